using System.Text.Json.Nodes;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Audit;

[Collection(LedgerCollection.Name)]
public sealed class Audit_timeline_tests(LedgerFixture ledger)
{
    private static string Q(DateTimeOffset t) => Uri.EscapeDataString(t.ToString("O"));

    private Task<string> Auditor() => ledger.PersonToken("auditor@example.com", "auditor");

    [Fact]
    public async Task An_apps_timeline_holds_lifecycle_credentials_and_accesses_in_ledger_order_with_stable_pages()
    {
        var from = DateTimeOffset.UtcNow.AddMinutes(-1);
        var appId = await ledger.DataApp("timeline");
        var token = await ledger.AppToken(appId);
        (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        (await ledger.Post("/data/customers/query", """{"fields":["customer_id"],"limit":1}""", token)).Status.ShouldBe(200);
        (await ledger.Post($"/apps/{appId}/pause", """{"reason":"audit drill"}""", await ledger.PersonToken(Reviewer, "security-reviewer"))).Status.ShouldBe(200);
        var to = DateTimeOffset.UtcNow.AddMinutes(1);

        var auditor = await Auditor();
        var all = await ledger.Get($"/audit/timeline?app_id={appId}&from={Q(from)}&to={Q(to)}", auditor);
        all.Status.ShouldBe(200, all.Text);
        var items = all.Node("items")!.AsArray();
        var sequences = items.Select(i => i!["sequence"]!.GetValue<long>()).ToList();
        sequences.ShouldBe(sequences.Order().ToList());
        var types = items.Select(i => i!["type"]!.GetValue<string>()).ToList();
        foreach (var type in new[] { "app_registered", "policy_checked", "app_approved", "access_granted", "app_token_issued", "access_recorded", "query_executed", "database_credential_minted", "app_paused" })
            types.ShouldContain(type);
        types.IndexOf("app_registered").ShouldBe(0);
        types.LastIndexOf("app_paused").ShouldBe(types.Count - 1);

        var first = await ledger.Get($"/audit/timeline?app_id={appId}&from={Q(from)}&to={Q(to)}&limit=5", auditor);
        var cursor = first.Node("next_cursor")!.GetValue<long>();
        var second = await ledger.Get($"/audit/timeline?app_id={appId}&from={Q(from)}&to={Q(to)}&limit=5&cursor={cursor}", auditor);
        first.Node("items")!.AsArray().Concat(second.Node("items")!.AsArray()).Select(i => i!["sequence"]!.GetValue<long>())
            .ShouldBe(sequences.Take(10));
    }

    [Fact]
    public async Task Timelines_export_as_ndjson_and_csv()
    {
        var appId = await ledger.ActiveApp("export");
        var auditor = await Auditor();
        using var client = ledger.Client();
        client.DefaultRequestHeaders.Authorization = new("Bearer", auditor);

        client.DefaultRequestHeaders.Accept.ParseAdd("application/x-ndjson");
        var ndjson = await client.GetStringAsync($"/audit/timeline?app_id={appId}");
        var lines = ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe((await ledger.StreamOf(appId)).Count);
        lines.ShouldAllBe(l => JsonNode.Parse(l)!["stream"]!.GetValue<string>() == appId);

        client.DefaultRequestHeaders.Accept.Clear();
        client.DefaultRequestHeaders.Accept.ParseAdd("text/csv");
        var csv = (await client.GetStringAsync($"/audit/timeline?app_id={appId}")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        csv[0].ShouldBe("sequence,recorded_at,stream,version,type,correlation_id,data");
        csv.Length.ShouldBe(lines.Length + 1);
    }

    [Fact]
    public async Task As_of_answers_what_an_app_could_do_before_and_after_approval_pause_and_retirement()
    {
        var appId = NewAppId("asof");
        // Each moment is the time the ledger recorded for the step's last event: no waiting for the clock to move.
        async Task<DateTimeOffset> RecordedAt() => (await ledger.StreamOf(appId))[^1].Timestamp;
        (await ledger.Register(ReviewManifest(appId))).Str("status").ShouldBe("pending_review");
        var beforeAll = (await ledger.StreamOf(appId))[0].Timestamp.AddMilliseconds(-1);
        var pending = await RecordedAt();
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"fine"}""", await ledger.PersonToken(Reviewer, "security-reviewer"))).Status.ShouldBe(200);
        var approved = await RecordedAt();
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post($"/apps/{appId}/pause", """{"reason":"quiet period"}""", owner)).Status.ShouldBe(200);
        var paused = await RecordedAt();
        (await ledger.Post($"/apps/{appId}/retire", """{"reason":"done"}""", owner)).Status.ShouldBe(200);
        var retired = await RecordedAt();

        var auditor = await Auditor();
        async Task<ApiResponse> AsOf(DateTimeOffset at) => await ledger.Get($"/audit/apps/{appId}/as-of?at={Q(at)}", auditor);

        (await AsOf(beforeAll)).Status.ShouldBe(404);
        var p = await AsOf(pending);
        p.Str("status").ShouldBe("pending_review");
        p.Node("granted_scopes")!.AsArray().ShouldBeEmpty();
        p.Node("policy_versions")!.AsArray().Count.ShouldBe(PolicyFiles.Registration);
        var a = await AsOf(approved);
        a.Str("status").ShouldBe("active");
        a.Node("granted_scopes")!.AsArray().Select(s => s!.GetValue<string>()).ShouldBe(["read:customers", "write:interactions"]);
        a.Node("approvals")!.AsArray().Single()!["reviewer"]!.GetValue<string>().ShouldBe($"person:{Reviewer}");
        (await AsOf(paused)).Str("status").ShouldBe("paused");
        var r = await AsOf(retired);
        r.Str("status").ShouldBe("retired");
        r.Node("granted_scopes")!.AsArray().ShouldBeEmpty();
    }

    [Fact]
    public async Task Denials_and_field_access_are_answerable()
    {
        var appId = await ledger.DataApp("who");
        var token = await ledger.AppToken(appId, "EMEA", "read:customers", "read:pii");
        (await ledger.Get("/gw/crm/contacts", token)).Status.ShouldBe(403);   // read:contacts not in this token
        var withEmail = await ledger.Post("/data/customers/query", """{"fields":["customer_id","email"],"limit":1}""", token);
        withEmail.Status.ShouldBe(200);
        var withoutEmail = await ledger.Post("/data/customers/query", """{"fields":["customer_id"],"limit":1}""", token);

        var auditor = await Auditor();
        var denials = await ledger.Get($"/audit/denials?app_id={appId}", auditor);
        denials.Node("items")!.AsArray().ShouldHaveSingleItem()!["data"]!["Reason"]!.GetValue<string>().ShouldContain("read:contacts");

        var emailReaders = await ledger.Get("/audit/access?dataset=customers&field=email&limit=5000", auditor);
        var ids = emailReaders.Node("items")!.AsArray().Select(i => i!["data"]!["RequestId"]!.GetValue<string>()).ToList();
        ids.ShouldContain(withEmail.RequestId!);
        ids.ShouldNotContain(withoutEmail.RequestId!);
    }

    [Fact]
    public async Task Owners_read_only_their_own_trail_and_only_auditors_search_across_apps()
    {
        var mine = await ledger.ActiveApp("mytrail");
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var theirs = NewAppId("theirtrail");
        await ledger.Register(ExampleManifest(theirs).With("owner", "other@example.com"), admin);
        var owner = await ledger.PersonToken(Owner, "app-owner");

        (await ledger.Get($"/audit/timeline?app_id={mine}", owner)).Status.ShouldBe(200);
        (await ledger.Get($"/audit/timeline?app_id={theirs}", owner)).Status.ShouldBe(403);
        (await ledger.Get($"/audit/apps/{theirs}/as-of?at={Q(DateTimeOffset.UtcNow)}", owner)).Status.ShouldBe(403);
        (await ledger.Get("/audit/denials", owner)).Status.ShouldBe(403);
        (await ledger.Get("/audit/access?dataset=customers", owner)).Status.ShouldBe(403);
        (await ledger.Get("/audit/access?dataset=customers", await ledger.PersonToken("finance@example.com", "finance"))).Status.ShouldBe(403);
        (await ledger.Get("/audit/timeline?app_id=x", null)).Status.ShouldBe(401);
        (await ledger.Get($"/audit/timeline?app_id={mine}&limit=0", owner)).Status.ShouldBe(400);
    }
}
