using GovernanceLedger.Contracts.Apps;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Operations;

[Collection(LedgerCollection.Name)]
public sealed class Anomaly_list_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task Security_lists_anomalies_across_apps_in_a_window_and_nobody_else_does()
    {
        var appId = NewAppId("anomalous");
        (await ledger.Register(ExampleManifest(appId))).Str("status").ShouldBe("active");
        var now = ledger.Clock.GetUtcNow();
        await using (var session = ledger.Host.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            session.Events.Append(appId, new AnomalyDetected(appId, "detect-requests-surge", 1, "requests", "2026-11-29T10:00", 900, 50,
                ["requests 900 > 10 x 50"], "throttle", "ledger", now));
            await session.SaveChangesAsync();
        }
        var security = await ledger.PersonToken(Reviewer, "security-reviewer");
        var from = Uri.EscapeDataString(now.AddMinutes(-5).ToString("O"));
        var to = Uri.EscapeDataString(now.AddMinutes(5).ToString("O"));
        var listed = await ledger.Get($"/ops/anomalies?from={from}&to={to}", security);
        listed.Status.ShouldBe(200, listed.Text);
        var item = listed.Json!["items"]!.AsArray().Single(a => a!["app_id"]!.GetValue<string>() == appId)!;
        item["action"]!.GetValue<string>().ShouldBe("throttle");
        item["findings"]![0]!.GetValue<string>().ShouldContain("900");

        (await ledger.Get("/ops/anomalies", await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(403);
        (await ledger.Get($"/ops/anomalies?from={to}&to={from}", security)).Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("from");
    }
}
