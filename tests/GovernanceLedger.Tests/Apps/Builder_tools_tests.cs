using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

/// <summary>What a builder sees before and after registering: the catalog, a dry run, a plain refusal, and a resubmission.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Builder_tools_tests(LedgerFixture ledger)
{
    /// <summary>Customers with e-mail addresses, but without the PII scope: pii-requires-scope refuses it.</summary>
    private static JsonObject PiiWithoutScope(string appId) => ExampleManifest(appId)
        .With("scopes", Strings("read:customers")).With("connectors", Strings("postgres:salesdb"))
        .With("datasets", Datasets(("customers", ["customer_id", "email"])));

    [Fact]
    public async Task Any_signed_in_person_can_see_the_curated_datasets_their_fields_PII_tags_and_how_apps_reach_them()
    {
        (await ledger.Get("/catalog/datasets", null)).Status.ShouldBe(401);
        var someone = await ledger.PersonToken("new.builder@example.com");
        var catalog = await ledger.Get("/catalog/datasets", someone);
        catalog.Status.ShouldBe(200, catalog.Text);
        var customers = catalog.Node("datasets")!.AsArray().Single(d => d!["name"]!.GetValue<string>() == "customers")!;
        var email = customers["fields"]!.AsArray().Single(f => f!["name"]!.GetValue<string>() == "email")!;
        email["pii"]!.GetValue<bool>().ShouldBeTrue();
        email["masking"]!.GetValue<string>().ShouldBe("partial");
        customers["fields"]!.AsArray().Single(f => f!["name"]!.GetValue<string>() == "segment")!["pii"]!.GetValue<bool>().ShouldBeFalse();
        customers["access"]!.AsArray().ShouldContain(a => a!["path"]!.GetValue<string>() == "/data/customers/query"
            && a["scopes"]!.AsArray().Single()!.GetValue<string>() == "read:customers");
        customers["templates"]!.AsArray().Select(t => t!.GetValue<string>()).ShouldContain("sales-lookup");
        customers["row_level_security"]!.GetValue<string>().ShouldContain("region");
        customers["connector_scopes"]!.AsArray().Select(s => s!.GetValue<string>()).ShouldContain("read:pii");
        var contacts = catalog.Node("datasets")!.AsArray().Single(d => d!["name"]!.GetValue<string>() == "contacts")!;
        contacts["access"]!.AsArray().ShouldContain(a => a!["via"]!.GetValue<string>() == "gateway" && a["path"]!.GetValue<string>() == "/gw/crm/contacts");
    }

    [Fact]
    public async Task A_dry_run_says_what_registering_would_come_to_and_what_to_change_and_writes_nothing()
    {
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var appId = NewAppId("dryrun");
        var refused = await ledger.Post("/apps/validate", PiiWithoutScope(appId).ToJsonString(), owner);
        refused.Status.ShouldBe(200, refused.Text);
        refused.Node("valid")!.GetValue<bool>().ShouldBeFalse();
        refused.Str("would_be").ShouldBe("rejected");
        refused.Node("app_id_available")!.GetValue<bool>().ShouldBeTrue();
        var finding = refused.Node("findings")!.AsArray().Single(f => f!["policy_id"]!.GetValue<string>() == "pii-requires-scope")!;
        finding["fix"]!.GetValue<string>().ShouldContain("Add the read:pii scope");
        refused.Str("next").ShouldContain("Add the read:pii scope");
        (await ledger.StreamOf(appId)).ShouldBeEmpty();

        var broken = await ledger.Post("/apps/validate", ExampleManifest(appId).With("expires_in_days", "soon").ToJsonString(), owner);
        broken.Node("valid")!.GetValue<bool>().ShouldBeFalse();
        broken.Node("errors")!.AsArray().ShouldContain(e => e!["field"]!.GetValue<string>() == "expires_in_days");

        var clean = await ledger.Post("/apps/validate", ExampleManifest(appId).ToJsonString(), owner);
        clean.Node("valid")!.GetValue<bool>().ShouldBeTrue(clean.Text);
        clean.Str("would_be").ShouldBe("active");
        clean.Node("findings")!.AsArray().ShouldAllBe(f => f!["fix"] == null);
        (await ledger.StreamOf(appId)).ShouldBeEmpty();

        // Someone else's manifest: the dry run says so, as registering would.
        var stranger = await ledger.PersonToken("someone.else@example.com", "app-owner");
        var notTheirs = await ledger.Post("/apps/validate", ExampleManifest(appId).ToJsonString(), stranger);
        notTheirs.Node("valid")!.GetValue<bool>().ShouldBeFalse();
        notTheirs.Node("errors.0.rule")!.GetValue<string>().ShouldBe("owner-must-be-caller");
    }

    [Fact]
    public async Task A_refused_registration_is_a_422_that_says_what_to_change_and_the_fixed_manifest_is_resubmitted_under_the_same_app_id()
    {
        var appId = NewAppId("resubmit");
        var refused = await ledger.Register(PiiWithoutScope(appId));
        refused.Status.ShouldBe(422, refused.Text);
        refused.Str("type").ShouldEndWith("/registration-refused");
        refused.Str("app_status").ShouldBe("rejected");
        refused.Str("resubmit").ShouldBe($"PUT /apps/{appId}/manifest");
        refused.Node("errors.0.rule")!.GetValue<string>().ShouldBe("pii-requires-scope");
        refused.Node("errors.0.field")!.GetValue<string>().ShouldBe("customers.email");
        refused.Str("detail").ShouldContain("Add the read:pii scope");

        // Registering the id again is refused with the way forward; the owner resubmits instead.
        var again = await ledger.Register(PiiWithoutScope(appId).With("scopes", Strings("read:customers", "read:pii")));
        again.Status.ShouldBe(409);
        again.Str("detail").ShouldContain($"PUT /apps/{appId}/manifest");

        var stranger = await ledger.PersonToken("someone.else@example.com", "app-owner");
        var fixedManifest = ExampleManifest(appId).With("scopes", Strings("read:customers")).With("connectors", Strings("postgres:salesdb"))
            .With("datasets", Datasets(("customers", ["customer_id", "segment"])));
        (await ledger.Send(HttpMethod.Put, $"/apps/{appId}/manifest", fixedManifest.ToJsonString(), stranger)).Status.ShouldBe(404);
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var otherOwner = await ledger.Send(HttpMethod.Put, $"/apps/{appId}/manifest", fixedManifest.DeepClone().AsObject().With("owner", "new.owner@example.com").ToJsonString(), owner);
        otherOwner.Status.ShouldBe(400, otherOwner.Text);
        otherOwner.Node("errors.0.rule")!.GetValue<string>().ShouldBe("same-owner");

        var resubmitted = await ledger.Send(HttpMethod.Put, $"/apps/{appId}/manifest", fixedManifest.ToJsonString(), owner);
        resubmitted.Status.ShouldBe(200, resubmitted.Text);
        resubmitted.Str("status").ShouldBe("active");
        var timeline = (await ledger.StreamOf(appId)).Select(e => e.Data).ToList();
        timeline.OfType<AppRejected>().ShouldHaveSingleItem();
        var second = timeline.OfType<ManifestResubmitted>().ShouldHaveSingleItem();
        second.ManifestVersion.ShouldBe(2);
        second.Manifest.Datasets.Single().Fields.ShouldBe(["customer_id", "segment"]);
        timeline.OfType<AppApproved>().ShouldHaveSingleItem();
        var entry = await ledger.Get($"/apps/{appId}", owner);
        entry.Str("status").ShouldBe("active");
        entry.Node("manifest_version")!.GetValue<int>().ShouldBe(2);
        entry.Node("findings")!.AsArray().ShouldAllBe(f => f!["outcome"]!.GetValue<string>() != "deny");

        // An approved app keeps its manifest.
        var late = await ledger.Send(HttpMethod.Put, $"/apps/{appId}/manifest", fixedManifest.ToJsonString(), owner);
        late.Status.ShouldBe(409);
        late.Node("errors.0.rule")!.GetValue<string>().ShouldBe("not-refused-or-pending");
    }

    [Fact]
    public async Task Resubmitting_an_app_waiting_for_review_starts_its_review_again()
    {
        var appId = NewAppId("rereview");
        (await ledger.Register(BroadManifest(appId))).Str("status").ShouldBe("pending_review");
        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"fine by me"}""", reviewer)).Status.ShouldBe(200);
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var narrower = await ledger.Send(HttpMethod.Put, $"/apps/{appId}/manifest", ReviewManifest(appId).ToJsonString(), owner);
        narrower.Status.ShouldBe(200, narrower.Text);
        narrower.Str("status").ShouldBe("pending_review");
        narrower.Node("required_approvals")!.GetValue<int>().ShouldBe(1);
        // The approval given to the old manifest does not count for the new one.
        var entry = await ledger.Get($"/apps/{appId}", owner);
        entry.Node("approvals")!.AsArray().ShouldBeEmpty();
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"the narrower request is fine"}""", reviewer)).Str("status")
            .ShouldBe("active");
    }

    [Fact]
    public async Task An_action_sent_without_its_JSON_body_is_told_so_in_one_sentence_not_by_the_parser()
    {
        var appId = await ledger.ActiveApp("nobody");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var bare = await ledger.Send(HttpMethod.Post, $"/apps/{appId}/pause", null, owner);
        bare.Status.ShouldBe(400, bare.Text);
        bare.Node("errors.0.rule")!.GetValue<string>().ShouldBe("body-required");
        bare.Text.ShouldNotContain("isFinalBlock");
        bare.Str("detail").ShouldContain("reason");
    }
}
