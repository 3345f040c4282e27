using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Contracts.Chargeback;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Chargeback;

[Collection(LedgerCollection.Name)]
public sealed class Chargeback_tests(LedgerFixture ledger)
{
    // The rate card in appsettings.json, and a second one this test publishes for the month's second half.
    private static readonly RateCardChanged Configured = new("EUR", 0.0002m, 0.000001m, 0.02m, 0.004m, new DateOnly(2026, 1, 1), "finance@example.com", default);
    private static readonly RateCardChanged Raised = new("EUR", 0.0005m, 0.000002m, 0.05m, 0.01m, new DateOnly(2031, 3, 16), "finance@example.com", default);

    private static decimal Price(RateCardChanged card, long requests, long rows, long bytes, decimal ms) =>
        requests * card.PerRequest + rows * card.PerRow + bytes / 1_000_000m * card.PerMegabyte + ms / 1000m * card.PerComputeSecond;

    [Fact]
    public async Task A_months_chargeback_reconciles_exactly_with_a_hand_computation_over_the_raw_events()
    {
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var appA = NewAppId("billa");
        var appB = NewAppId("billb");
        (await ledger.Register(ExampleManifest(appA).With("cost_center", "SALES-1"), admin)).Status.ShouldBe(201);
        (await ledger.Register(ExampleManifest(appB).With("owner", "finance.analyst@example.com").With("cost_center", "FIN-9"), admin)).Status.ShouldBe(201);

        // Seed March 2031 directly: random usage on random days, some denials, for both apps.
        var random = new Random(20310301);
        var seeded = new List<object>();
        await using (var session = ledger.Host.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            session.Events.Append("chargeback-rate-card", Raised with { At = DateTimeOffset.UtcNow });
            foreach (var app in new[] { appA, appB })
                for (var i = 0; i < 300; i++)
                {
                    var at = new DateTimeOffset(2031, 3, random.Next(1, 32), random.Next(0, 24), random.Next(0, 60), 0, TimeSpan.Zero);
                    var allowed = random.Next(10) > 0;
                    var bytes = random.Next(100, 200_000);
                    var access = new AccessRecorded($"r{i}", app, null, null, null, i % 2 == 0 ? "data" : "gateway", "crm", "GET", "/x",
                        allowed ? 200 : 403, 1.25, 0, allowed ? bytes : 0, allowed ? "allow" : "deny", "seeded", null, null, null, at);
                    seeded.Add(access);
                    session.Events.Append($"access:{app}:{at:yyyy-MM-dd}:9", access);
                    if (allowed && i % 2 == 0)
                    {
                        var query = new QueryExecuted($"r{i}", app, null, "customers", ["customer_id"], [], [], [], 100, random.Next(0, 1000), bytes,
                            Math.Round(random.NextDouble() * 40, 3), "role", "EMEA", "runtime-scopes-required", 1, null, at);
                        seeded.Add(query);
                        session.Events.Append($"access:{app}:{at:yyyy-MM-dd}:9", query);
                    }
                }
            await session.SaveChangesAsync();
        }

        // The hand computation: straight over the seeded events, day by day, with the card in force that day.
        decimal Expected(string app)
        {
            decimal total = 0;
            foreach (var day in seeded.GroupBy(e => e switch { AccessRecorded a => (a.AppId, DateOnly.FromDateTime(a.At.UtcDateTime)), QueryExecuted q => (q.AppId, DateOnly.FromDateTime(q.At.UtcDateTime)), _ => default }).Where(g => g.Key.Item1 == app))
            {
                var card = day.Key.Item2 >= Raised.EffectiveFrom ? Raised : Configured;
                var requests = day.OfType<AccessRecorded>().Count(a => a.Decision == "allow");
                var bytes = day.OfType<AccessRecorded>().Where(a => a.Decision == "allow").Sum(a => a.BytesOut);
                var rows = day.OfType<QueryExecuted>().Sum(q => (long)q.Rows);
                var ms = day.OfType<QueryExecuted>().Sum(q => (decimal)q.DurationMs);
                total += Price(card, requests, rows, bytes, ms);
            }
            return total;
        }

        var finance = await ledger.PersonToken("finance@example.com", "finance");
        var byApp = await ledger.Get("/chargeback?month=2031-03&group_by=app", finance);
        byApp.Status.ShouldBe(200, byApp.Text);
        var lines = byApp.Node("lines")!.AsArray().ToDictionary(l => l!["key"]!.GetValue<string>(), l => l!["amount"]!.GetValue<decimal>());
        lines[appA].ShouldBe(Expected(appA));
        lines[appB].ShouldBe(Expected(appB));
        byApp.Node("lines")!.AsArray().Single(l => l!["key"]!.GetValue<string>() == appA)!["requests"]!.GetValue<long>()
            .ShouldBe(seeded.OfType<AccessRecorded>().Count(a => a.AppId == appA && a.Decision == "allow"));

        var byCostCenter = await ledger.Get("/chargeback?month=2031-03&group_by=cost_center", finance);
        var centers = byCostCenter.Node("lines")!.AsArray().ToDictionary(l => l!["key"]!.GetValue<string>(), l => l!["amount"]!.GetValue<decimal>());
        centers["SALES-1"].ShouldBe(Expected(appA));
        centers["FIN-9"].ShouldBe(Expected(appB));
        var byOwner = await ledger.Get("/chargeback?month=2031-03&group_by=owner", finance);
        byOwner.Node("total.amount")!.GetValue<decimal>().ShouldBe(Expected(appA) + Expected(appB));

        using var client = ledger.Client();
        client.DefaultRequestHeaders.Authorization = new("Bearer", finance);
        client.DefaultRequestHeaders.Accept.ParseAdd("text/csv");
        var csv = (await client.GetStringAsync("/chargeback?month=2031-03&group_by=cost_center")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        csv[0].ShouldBe("cost_center,requests,rows,megabytes,compute_seconds,amount_eur,scanned_megabytes");
        var totalLine = csv.Single(l => l.StartsWith("total,"));
        totalLine.ShouldEndWith("," + (Expected(appA) + Expected(appB)).ToString(System.Globalization.CultureInfo.InvariantCulture) + ",0");

        // An owner sees only their own apps' lines; bad input gets 400; no token gets 401.
        var ownerView = await ledger.Get("/chargeback?month=2031-03", await ledger.PersonToken(Owner, "app-owner"));
        ownerView.Node("lines")!.AsArray().Select(l => l!["key"]!.GetValue<string>()).ShouldContain(appA);
        ownerView.Node("lines")!.AsArray().Select(l => l!["key"]!.GetValue<string>()).ShouldNotContain(appB);
        (await ledger.Get("/chargeback?month=March", finance)).Status.ShouldBe(400);
        (await ledger.Get("/chargeback?month=2031-03&group_by=team", finance)).Status.ShouldBe(400);
        (await ledger.Get("/chargeback?month=2031-03", null)).Status.ShouldBe(401);
    }
}
