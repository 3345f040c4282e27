using System.Text.Json.Nodes;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

/// <summary>An agent's manifest is compared with the template or manifest it came from; widening access needs a purpose and two people.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Intent_validation_tests(LedgerFixture ledger)
{
    private Task<string> AgentToken() => ledger.PersonToken(new JsonObject
    {
        ["sub"] = "copilot-9", ["email"] = Owner, ["roles"] = Strings("app-owner"), ["actor_type"] = "agent"
    });

    /// <summary>The sales-lookup template's own access, plus whatever the agent adds.</summary>
    private static JsonObject FromSalesLookup(string appId, string[] extraScopes, string[] extraCustomerFields) => new()
    {
        ["app_id"] = appId,
        ["owner"] = Owner,
        ["generated_by"] = "agent",
        ["template"] = "sales-lookup",
        ["scopes"] = Strings(["read:customers", "read:sales_data", "write:interactions", .. extraScopes]),
        ["connectors"] = Strings("postgres:salesdb"),
        ["datasets"] = Datasets(
            ("customers", ["customer_id", "name", "region", "segment", .. extraCustomerFields]),
            ("sales_data", ["order_id", "customer_id", "region", "amount", "ordered_at"])),
        ["data_retention_days"] = 30
    };

    [Fact]
    public async Task An_agent_widening_access_beyond_its_template_must_state_a_purpose_and_needs_two_humans_who_see_the_diff()
    {
        var agent = await AgentToken();
        var appId = NewAppId("agent-widens");
        var widened = FromSalesLookup(appId, ["read:pii"], ["email", "phone"]);

        var noPurpose = await ledger.Register(widened, agent);
        noPurpose.Status.ShouldBe(422, noPurpose.Text);
        var error = noPurpose.Json!["errors"]!.AsArray().Single(e => e!["rule"]!.GetValue<string>() == "intent-growth-needs-a-purpose")!;
        error["field"]!.GetValue<string>().ShouldContain("template sales-lookup");
        error["message"]!.GetValue<string>().ShouldContain("\"purpose\"");

        // With a purpose, resubmitted under the same id: it waits for two distinct people.
        widened["purpose"] = "Call customers back about late orders: the sales team needs their e-mail and phone";
        var resubmitted = await ledger.Send(HttpMethod.Put, $"/apps/{appId}/manifest", widened.ToJsonString(), agent);
        resubmitted.Status.ShouldBe(200, resubmitted.Text);
        resubmitted.Str("status").ShouldBe("pending_review");
        resubmitted.Node("required_approvals")!.GetValue<int>().ShouldBe(2);
        var fired = resubmitted.Node("findings")!.AsArray().Single(f => f!["policy_id"]!.GetValue<string>() == "intent-growth-needs-two-approvers")!;
        fired["findings"]!.AsArray().Select(f => f!.GetValue<string>()).ShouldBe(["new PII field customers.email", "new PII field customers.phone"]);

        // The review queue and the app page show what the agent asked for beyond its starting point.
        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");
        var queue = await ledger.Get("/apps?status=pending_review", reviewer);
        var listed = queue.Json!.AsArray().Single(a => a!["id"]!.GetValue<string>() == appId)!;
        var intent = listed["intent"]!;
        intent["baseline"]!.GetValue<string>().ShouldBe("template sales-lookup", "a refused manifest is no baseline for the one that replaces it");
        var page = (await ledger.Get($"/apps/{appId}", reviewer)).Node("intent")!;
        page["added_pii_fields"]!.AsArray().Select(f => f!.GetValue<string>()).ShouldBe(["customers.email", "customers.phone"]);
        page["purpose"]!.GetValue<string>().ShouldContain("late orders");

        // Two humans: the agent cannot be one, and one person counts once.
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"fine"}""", agent)).Status.ShouldBe(403);
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"purpose checked"}""", reviewer)).Str("status").ShouldBe("pending_review");
        var second = await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"agreed"}""",
            await ledger.PersonToken(SecondReviewer, "security-reviewer"));
        second.Str("status").ShouldBe("active", second.Text);
    }

    [Fact]
    public async Task An_agent_staying_within_its_template_needs_one_reviewer_and_the_first_manifest_is_compared_with_the_template()
    {
        var agent = await AgentToken();
        var appId = NewAppId("agent-stays");
        var registered = await ledger.Register(FromSalesLookup(appId, [], []), agent);
        registered.Str("status").ShouldBe("pending_review", registered.Text);
        registered.Node("required_approvals")!.GetValue<int>().ShouldBe(1);
        var intent = (await ledger.Get($"/apps/{appId}", await ledger.PersonToken(Reviewer, "security-reviewer"))).Node("intent")!;
        intent["baseline"]!.GetValue<string>().ShouldBe("template sales-lookup");
        intent["added_scopes"]!.AsArray().ShouldBeEmpty();
        intent["added_fields"]!.AsArray().ShouldBeEmpty();

        // A new write scope beyond the template is growth too, even without PII.
        var writes = await ledger.Register(FromSalesLookup(NewAppId("agent-writes"), ["write:contacts"], [])
            .With("connectors", Strings("postgres:salesdb", "crm:contacts")).With("purpose", "Log follow-up calls in the CRM"), agent);
        writes.Node("required_approvals")!.GetValue<int>().ShouldBe(2, writes.Text);
    }
}
