using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Contracts.Apps;
using Npgsql;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>An app tried before approval: synthetic rows under the same rules, never a real row, never usage.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Sandbox_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task A_sandbox_token_reads_synthetic_rows_under_the_same_rules_and_can_never_read_a_real_row()
    {
        // Writing to production routes the app to review: it is not approved, and gets no real token.
        var appId = NewAppId("sandbox");
        var manifest = ExampleManifest(appId).With("scopes", Strings("read:customers", "read:pii", "read:contacts", "write:interactions")).With("connectors", Strings("postgres:salesdb", "crm:contacts"))
            .With("datasets", Datasets(("customers", ["customer_id", "name", "email", "region"])));
        (await ledger.Register(manifest)).Str("status").ShouldBe("pending_review");
        // The owner signed in with a second factor: what the reveal policy asks before PII is shown, synthetic or not.
        var owner = await ledger.PersonToken(new JsonObject { ["sub"] = Owner, ["roles"] = Strings("app-owner"), ["region"] = "NA", ["amr"] = Strings("pwd", "mfa") });
        (await ledger.Post($"/apps/{appId}/tokens", "{}", owner)).Status.ShouldBe(403);
        var stranger = await ledger.PersonToken("someone.else@example.com", "app-owner");
        (await ledger.Post($"/apps/{appId}/sandbox/tokens", "{}", stranger)).Status.ShouldBe(404);
        // A reviewer sees the app but is not its owner: refused, and the refusal is on the app's timeline as a sandbox token's.
        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");
        var refused = await ledger.Post($"/apps/{appId}/sandbox/tokens", "{}", reviewer);
        refused.Status.ShouldBe(403, refused.Text);
        refused.Str("errors.0.rule").ShouldBe("owner-or-admin");
        (await ledger.StreamOf(GovernanceLedger.Apps.IssuingTokens.TokenStreams.For(appId, ledger.Clock.GetUtcNow())))
            .Select(e => e.Data).OfType<GovernanceLedger.Contracts.Apps.AppTokenRefused>()
            .ShouldContain(r => r.Sandbox && r.Rule == "owner-or-admin" && r.Actor.Contains(Reviewer));

        var issued = await ledger.Post($"/apps/{appId}/sandbox/tokens", "{}", owner);
        issued.Status.ShouldBe(200, issued.Text);
        issued.Node("sandbox")!.GetValue<bool>().ShouldBeTrue();
        var token = issued.Str("access_token");

        var answer = await ledger.Post("/data/customers/query", """{"fields":["customer_id","name","email","region"],"limit":50}""", token);
        answer.Status.ShouldBe(200, answer.Text);
        answer.Node("sandbox")!.GetValue<bool>().ShouldBeTrue();
        answer.Str("note").ShouldContain("synthetic");
        var rows = answer.Node("rows")!.AsArray().Select(r => r!.AsObject()).ToList();
        rows.Count.ShouldBe(50);
        // The same rules: row-level security keeps the end user's region; PII comes back as the grant says, and it is fake.
        rows.ShouldAllBe(r => r["region"]!.GetValue<string>() == "NA");
        answer.Node("masked_fields")!.AsArray().ShouldBeEmpty();
        rows.ShouldAllBe(r => r["email"]!.GetValue<string>().EndsWith("@sandbox.invalid"));
        // Fields not granted stay out, as for a real token.
        (await ledger.Post("/data/customers/query", """{"fields":["phone"]}""", token)).Status.ShouldBe(403);

        // None of them is a real row: no id or name from the source database comes back, whatever the filter.
        var real = new HashSet<string>();
        await using (var source = new NpgsqlConnection(ledger.SalesConnectionString))
        {
            await source.OpenAsync();
            await using var read = new NpgsqlCommand("select customer_id::text || '|' || name from customers", source);
            await using var reader = await read.ExecuteReaderAsync();
            while (await reader.ReadAsync()) real.Add(reader.GetString(0));
        }
        real.Count.ShouldBe(300);
        rows.ShouldAllBe(r => !real.Contains($"{r["customer_id"]}|{r["name"]!.GetValue<string>()}"));
        var probe = await ledger.Post("/data/customers/query", """{"fields":["customer_id","name"],"filter":[{"field":"customer_id","op":"eq","value":3}]}""", token);
        probe.Node("rows")!.AsArray().ShouldBeEmpty();
        probe.Str("note").ShouldStartWith("Sandbox:");

        // The gateway never forwards it: the route's upstream is simulated from synthetic rows of its dataset.
        var gateway = await ledger.Get("/gw/crm/contacts?limit=2", token);
        gateway.Status.ShouldBe(200, gateway.Text);
        var contacts = gateway.Json!.AsArray().Select(c => c!.AsObject()).ToList();
        contacts.Count.ShouldBe(2);
        // The upstream's contacts are ids 1 to 50 at example.com; these are neither.
        contacts.ShouldAllBe(c => c["email"]!.GetValue<string>().EndsWith("@sandbox.invalid") && c["contact_id"]!.GetValue<long>() > 50);
        (await ledger.Get("/gw/crm/contacts/7", token)).Json!["contact_id"].ShouldNotBeNull();
        // A HEAD (on a route exposing it) answers as a read does, 200 with no body, and its record names nothing sent; a
        // GET's names the bytes it got.
        var head = await ledger.Send(HttpMethod.Head, "/gw/plain/stream?kb=1", null, token);
        head.Status.ShouldBe(200);
        head.Text.ShouldBeEmpty();
        // Every other door refuses it, and the refusal is the sandbox's, never a denial of the app's own (denials feed the
        // detectors that throttle and pause an app).
        var otherDoor = await ledger.Get("/data", token);
        otherDoor.Text.ShouldContain("sandbox-token");

        // Recorded apart: sandbox events, no access or query events, no usage, nothing to charge.
        var recorded = await ledger.AccessEvents(appId);
        recorded.OfType<SandboxRequestServed>().Count(e => e.Decision == "allow").ShouldBe(5);
        recorded.OfType<SandboxRequestServed>().Single(e => e.RequestId == head.RequestId).ShouldSatisfyAllConditions(
            e => e.Status.ShouldBe(200), e => e.BytesOut.ShouldBe(0), e => e.Rows.ShouldBe(0));
        recorded.OfType<SandboxRequestServed>().Single(e => e.RequestId == gateway.RequestId).BytesOut
            .ShouldBe(System.Text.Encoding.UTF8.GetByteCount(gateway.Text));
        recorded.OfType<SandboxRequestServed>().Single(e => e.RequestId == answer.RequestId).BytesOut
            .ShouldBe(System.Text.Encoding.UTF8.GetByteCount(answer.Text));
        recorded.OfType<SandboxRequestServed>().ShouldContain(e => e.Decision == "deny" && e.Reason.StartsWith("field-not-granted"));
        recorded.OfType<QueryExecuted>().ShouldBeEmpty();
        recorded.OfType<SandboxRequestServed>().Single(e => e.RequestId == otherDoor.RequestId).Reason.ShouldStartWith("sandbox-token");
        recorded.OfType<AccessRecorded>().ShouldBeEmpty();
        var finance = await ledger.PersonToken("finance.person@example.com", "finance");
        var chargeback = await ledger.Get($"/chargeback?month={ledger.Clock.GetUtcNow():yyyy-MM}", finance);
        chargeback.Node("lines")!.AsArray().ShouldAllBe(l => l!["key"]!.GetValue<string>() != appId || l["requests"]!.GetValue<long>() == 0);
        (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppApproved>().ShouldBeEmpty();

        // The owner sees what the sandbox traffic did and would cost: simulated, not charged.
        var usage = await ledger.Get($"/apps/{appId}/sandbox", owner);
        usage.Status.ShouldBe(200, usage.Text);
        usage.Node("requests")!.GetValue<int>().ShouldBe(7);
        usage.Node("refused")!.GetValue<int>().ShouldBe(2);
        usage.Node("rows")!.GetValue<long>().ShouldBe(53);
        usage.Node("bytes")!.GetValue<long>().ShouldBe(recorded.OfType<SandboxRequestServed>().Sum(e => e.BytesOut));
        usage.Node("bytes")!.GetValue<long>().ShouldBeGreaterThan(System.Text.Encoding.UTF8.GetByteCount(answer.Text));
        usage.Node("charged")!.GetValue<bool>().ShouldBeFalse();
        usage.Node("simulated_cost")!.GetValue<decimal>().ShouldBeGreaterThan(0);
        (await ledger.Get($"/apps/{appId}/sandbox", stranger)).Status.ShouldBe(404);
    }

    [Fact]
    public async Task Sandbox_requests_have_a_rate_bucket_of_their_own_and_never_take_the_apps()
    {
        var appId = await ledger.DataApp("sbxrate", new JsonObject { ["requests_per_second"] = 2 });
        var owner = await ledger.PersonToken(new JsonObject { ["sub"] = Owner, ["roles"] = Strings("app-owner"), ["amr"] = Strings("pwd", "mfa") });
        var issued = await ledger.Post($"/apps/{appId}/sandbox/tokens", "{}", owner);
        issued.Status.ShouldBe(200, issued.Text);
        var sandbox = issued.Str("access_token");
        var real = await ledger.AppToken(appId);

        // The sandbox's own bucket runs dry, and says so; the app's bucket is untouched. (Each ledger instance holds its share
        // of the rate, at least one request a second, so one real request is what the app is sure to have.)
        var tried = new List<int>();
        for (var i = 0; i < 6; i++) tried.Add((await ledger.Get("/gw/crm/contacts?limit=1", sandbox)).Status);
        tried.ShouldContain(429);
        (await ledger.Get("/gw/crm/contacts?limit=1", real)).Status.ShouldBe(200);
    }
}
