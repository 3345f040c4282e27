using System.Text.Json.Nodes;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Policies;

[Collection(LedgerCollection.Name)]
public sealed class Policy_rules_tests(LedgerFixture ledger)
{
    private static JsonObject Finding(ApiResponse registration, string policyId) =>
        registration.Node("findings")!.AsArray().Single(f => f!["policy_id"]!.GetValue<string>() == policyId)!.AsObject();

    private async Task<(ApiResponse Response, JsonObject Finding)> RegisterExpecting(JsonObject manifest, string policyId, string outcome, string status)
    {
        var response = await ledger.Register(manifest);
        // A refusal is recorded but is not a success: 422 problem+json, the findings beside it.
        response.Status.ShouldBe(status == "rejected" ? 422 : 201, response.Text);
        response.Str(status == "rejected" ? "app_status" : "status").ShouldBe(status);
        var finding = Finding(response, policyId);
        finding["outcome"]!.GetValue<string>().ShouldBe(outcome);
        finding["policy_version"]!.GetValue<int>().ShouldBeGreaterThanOrEqualTo(1);
        return (response, finding);
    }

    [Fact]
    public async Task A_scope_no_declared_connector_offers_is_denied_with_the_scope_named()
    {
        var (_, finding) = await RegisterExpecting(
            ExampleManifest(NewAppId("scopes")).With("scopes", Strings("read:contacts", "write:contacts")).With("connectors", Strings("postgres:salesdb")),
            "scopes-match-connectors", "deny", "rejected");
        finding["reason"]!.GetValue<string>().ShouldContain("write:contacts");
    }

    [Fact]
    public async Task PII_fields_without_the_pii_scope_are_denied_naming_each_field()
    {
        var (_, finding) = await RegisterExpecting(
            ExampleManifest(NewAppId("pii")).With("scopes", Strings("read:customers")).With("connectors", Strings("postgres:salesdb"))
                .With("datasets", Datasets(("customers", ["customer_id", "email", "phone"]))),
            "pii-requires-scope", "deny", "rejected");
        finding["findings"]!.AsArray().Select(f => f!.GetValue<string>()).ShouldBe(["customers.email", "customers.phone"]);
    }

    [Fact]
    public async Task The_no_pii_policy_set_denies_PII_even_with_the_pii_scope()
    {
        var (response, finding) = await RegisterExpecting(
            ExampleManifest(NewAppId("nopii")).With("scopes", Strings("read:customers", "read:pii")).With("connectors", Strings("postgres:salesdb"))
                .With("datasets", Datasets(("customers", ["email"]))).With("policy_sets", Strings("no-pii")),
            "no-pii", "deny", "rejected");
        finding["reason"]!.GetValue<string>().ShouldContain("customers.email");
        Finding(response, "pii-requires-scope")["outcome"]!.GetValue<string>().ShouldBe("pass");

        var app = await ledger.Get($"/apps/{response.Str("app_id")}", await ledger.PersonToken(Owner, "app-owner"));
        app.Str("status_reason").ShouldContain("no-pii v");
    }

    [Fact]
    public async Task Read_only_analytics_denies_write_scopes()
    {
        await RegisterExpecting(
            ExampleManifest(NewAppId("ro")).With("scopes", Strings("read:sales_data", "write:interactions")).With("connectors", Strings("postgres:salesdb"))
                .With("policy_sets", Strings("read-only-analytics")),
            "read-only-analytics", "deny", "rejected");
    }

    [Fact]
    public async Task Uncurated_datasets_and_fields_are_denied()
    {
        var (_, finding) = await RegisterExpecting(
            ExampleManifest(NewAppId("raw")).With("datasets", Datasets(("raw_customers", ["ssn"]), ("customers", ["shoe_size"]))),
            "datasets-must-be-curated", "deny", "rejected");
        finding["findings"]!.AsArray().Select(f => f!.GetValue<string>()).ShouldBe(["raw_customers", "customers.shoe_size"]);
    }

    [Fact]
    public async Task Writing_to_a_production_dataset_routes_to_one_human_reviewer()
    {
        var (response, finding) = await RegisterExpecting(ReviewManifest(NewAppId("writes")), "production-writes-need-review", "review", "pending_review");
        response.Node("required_approvals")!.GetValue<int>().ShouldBe(1);
        finding["findings"]!.AsArray().Select(f => f!.GetValue<string>()).ShouldBe(["interactions"]);
    }

    [Fact]
    public async Task Agent_generated_apps_always_need_a_human_reviewer()
    {
        var (response, _) = await RegisterExpecting(ExampleManifest(NewAppId("agent")).With("generated_by", "agent"),
            "agent-apps-need-review", "review", "pending_review");
        response.Node("required_approvals")!.GetValue<int>().ShouldBe(1);
    }

    [Fact]
    public async Task Write_plus_PII_needs_two_approvers()
    {
        var (response, finding) = await RegisterExpecting(BroadManifest(NewAppId("broad")), "broad-requests-need-two-approvers", "two_approvers", "pending_review");
        response.Node("required_approvals")!.GetValue<int>().ShouldBe(2);
        finding["findings"]!.AsArray().Select(f => f!.GetValue<string>()).ShouldContain("write access combined with PII fields");
    }

    [Fact]
    public async Task More_datasets_than_one_approver_may_grant_needs_two_approvers()
    {
        var (response, _) = await RegisterExpecting(
            ExampleManifest(NewAppId("many")).With("scopes", Strings("read:customers", "read:sales_data")).With("connectors", Strings("postgres:salesdb", "bigquery:analytics"))
                .With("datasets", Datasets(("customers", ["customer_id"]), ("sales_data", ["order_id"]), ("interactions", ["channel"]), ("customers_sanitized", ["country"]))),
            "broad-requests-need-two-approvers", "two_approvers", "pending_review");
        response.Node("required_approvals")!.GetValue<int>().ShouldBe(2);
    }

    [Fact]
    public async Task Every_check_is_an_event_citing_policy_id_version_and_content_hash()
    {
        var appId = await ledger.ActiveApp("cited");
        var policies = await ledger.Get("/policies", await ledger.PersonToken(Owner, "app-owner"));
        policies.Json!.AsArray().Count.ShouldBe(PolicyFiles.All);
        policies.Json!.AsArray().Count(p => p!["stage"]!.GetValue<string>() == "runtime").ShouldBe(2);
        policies.Json!.AsArray().Count(p => p!["stage"]!.GetValue<string>() == "topic").ShouldBe(1);

        var checks = (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<GovernanceLedger.Contracts.Apps.PolicyChecked>().ToList();
        checks.Count.ShouldBe(PolicyFiles.Registration);
        foreach (var check in checks)
        {
            var policy = policies.Json!.AsArray().Single(p => p!["id"]!.GetValue<string>() == check.PolicyId)!;
            check.PolicyVersion.ShouldBe(policy["version"]!.GetValue<int>());
            check.ContentHash.ShouldBe(policy["content_hash"]!.GetValue<string>());
            check.Reason.ShouldNotBeNullOrWhiteSpace();
        }
    }
}
