using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Chargeback;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Chargeback;

[Collection(LedgerCollection.Name)]
public sealed class Budget_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task A_budget_alerts_at_80_and_100_percent_and_throttles_its_app_at_the_limit_when_asked()
    {
        var appId = await ledger.DataApp("budget", new JsonObject { ["requests_per_second"] = 1000, ["requests_per_day"] = 100_000 });
        var month = $"{ledger.Clock.GetUtcNow():yyyy-MM}";
        var finance = await ledger.PersonToken("finance@example.com", "finance");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var budget = new JsonObject { ["scope"] = "app", ["key"] = appId, ["month"] = month, ["amount"] = 0.002m, ["throttle_at_limit"] = true, ["reason"] = "pilot month" };

        var refused = await ledger.Send(HttpMethod.Put, "/chargeback/budgets", budget.ToJsonString(), owner);
        refused.Status.ShouldBe(403);
        refused.Str("errors.0.rule").ShouldBe("finance");
        var invalid = await ledger.Send(HttpMethod.Put, "/chargeback/budgets", budget.DeepClone().AsObject().With("amount", -1).ToJsonString(), finance);
        invalid.Status.ShouldBe(400);
        invalid.Str("errors.0.field").ShouldBe("amount");
        (await ledger.Send(HttpMethod.Put, "/chargeback/budgets", budget.ToJsonString(), finance)).Status.ShouldBe(200);

        // 0.0002 a request on the test rate card: nine requests pass 80%, a few more the limit.
        var token = await ledger.AppToken(appId);
        for (var i = 0; i < 9; i++) (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        var stream = $"budget:app:{appId}:{month}";
        await ledger.Eventually(async () => (await ledger.StreamOf(stream)).Select(e => e.Data).OfType<BudgetThresholdReached>().Any(), TimeSpan.FromSeconds(10));
        for (var i = 0; i < 3; i++) await ledger.Get("/gw/crm/contacts?limit=1", token);
        await ledger.Eventually(async () => (await ledger.StreamOf(stream)).Select(e => e.Data).OfType<BudgetThresholdReached>().Count() == 2, TimeSpan.FromSeconds(10));
        var reached = (await ledger.StreamOf(stream)).Select(e => e.Data).OfType<BudgetThresholdReached>().ToList();
        reached.Select(r => r.Percent).ShouldBe([80, 100]);
        reached[0].Actual.ShouldBeGreaterThanOrEqualTo(0.0016m);

        var shown = (await ledger.Get($"/chargeback/budgets?month={month}", owner)).Json!.AsArray().Single(b => b!["key"]!.GetValue<string>() == appId)!;
        shown["reached"]!.AsArray().Select(p => p!.GetValue<int>()).ShouldBe([80, 100]);
        shown["percent"]!.GetValue<decimal>().ShouldBeGreaterThanOrEqualTo(100m);

        // At the limit the app is held to one request a second until the month ends.
        await ledger.Eventually(async () => (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppThrottled>().Any(t => t.PolicyId == "budget-limit"),
            TimeSpan.FromSeconds(10));
        (await ledger.Get($"/chargeback/budgets?month=2026-13", owner)).Str("errors.0.field").ShouldBe("month");

        // A cost centre's budget adds up every app in it: finance sees it, an owner of one of its apps does not.
        var center = new JsonObject { ["scope"] = "cost_center", ["key"] = "BUDGET-PROBE", ["month"] = month, ["amount"] = 10m, ["reason"] = "pilot" };
        (await ledger.Send(HttpMethod.Put, "/chargeback/budgets", center.ToJsonString(), finance)).Status.ShouldBe(200);
        (await ledger.Get($"/chargeback/budgets?month={month}", finance)).Json!.AsArray().ShouldContain(b => b!["key"]!.GetValue<string>() == "BUDGET-PROBE");
        (await ledger.Get($"/chargeback/budgets?month={month}", owner)).Json!.AsArray().ShouldNotContain(b => b!["key"]!.GetValue<string>() == "BUDGET-PROBE");
        // A key is a cost centre or an app id as manifests name them, whole: no line breaks of any kind, no look-alikes.
        foreach (var (scope, key) in new[] { ("cost_center", "X\r\nBcc: everyone@example.com"), ("cost_center", "X\u2028Y"), ("cost_center", "MKT\u200B200"),
                     ("cost_center", new string('A', 41)), ("app", "Budget-App"), ("app", "app:other") })
        {
            var refusedKey = await ledger.Send(HttpMethod.Put, "/chargeback/budgets",
                center.DeepClone().AsObject().With("scope", scope).With("key", key).ToJsonString(), finance);
            refusedKey.Status.ShouldBe(400, key);
            refusedKey.Str("errors.0.field").ShouldBe("key");
        }
    }

    [Fact]
    public async Task Nobody_charges_an_app_to_a_cost_centre_that_does_not_pay_for_them_and_such_an_app_neither_spends_nor_is_throttled_by_its_budget()
    {
        // The owner's own cost centre: the app is active.
        var own = NewAppId("cc-own");
        (await ledger.Register(ExampleManifest(own).With("cost_center", "SALES-1"))).Status.ShouldBe(201);
        // Another builder naming it, or one finance never listed, is refused by the policy, and the refusal is recorded.
        var mallory = await ledger.PersonToken("mallory@example.com", "app-owner");
        foreach (var (costCenter, says) in new[] { ("SALES-1", "does not pay for apps of mallory@example.com"), ("NO-SUCH-CC", "is not one the catalog lists") })
        {
            var appId = NewAppId("cc-borrow");
            var refused = await ledger.Register(ExampleManifest(appId).With("owner", "mallory@example.com").With("cost_center", costCenter), mallory);
            refused.Status.ShouldBe(422, refused.Text);
            refused.Str("errors.0.rule").ShouldBe("cost-center-is-the-owners");
            refused.Text.ShouldContain(says);
            (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppRejected>().ShouldHaveSingleItem();
        }

        // An app that names a cost centre without being given it (registered before the policy, or the list changed since)
        // is not added up in that cost centre's budget, and is not among the apps the budget throttles.
        var catalog = new GovernanceLedger.Policies.DataCatalog
        {
            CostCenterList = [new() { Id = "SALES-1", Owners = [Owner.ToUpperInvariant()] }]
        };
        var apps = new Dictionary<string, GovernanceLedger.Projections.Catalog.AppCatalogEntry>
        {
            ["victim"] = new() { Id = "victim", Owner = Owner, CostCenter = "SALES-1" },
            ["squatter"] = new() { Id = "squatter", Owner = "mallory@example.com", CostCenter = "SALES-1" }
        };
        var budget = new GovernanceLedger.Projections.Chargeback.BudgetEntry { Scope = "cost_center", Key = "SALES-1" };
        GovernanceLedger.Chargeback.MonthlyCosts.Of(budget, new Dictionary<string, decimal> { ["victim"] = 1m, ["squatter"] = 100m }, apps, catalog).ShouldBe(1m);
        GovernanceLedger.Chargeback.MonthlyCosts.AppsOf(budget, apps.Values, catalog).ShouldBe(["victim"]);
    }
}
