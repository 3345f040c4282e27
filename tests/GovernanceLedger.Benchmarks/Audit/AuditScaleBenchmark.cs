using System.Diagnostics;
using static GovernanceLedger.Benchmarks.LedgerHttp;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using GovernanceLedger.Benchmarks.DataPlane;
using GovernanceLedger.Contracts.Access;
using JasperFx.Events;
using Marten;
using Npgsql;

namespace GovernanceLedger.Benchmarks.Audit;

/// <summary>
/// The read side at one million events: seed access and query events in large Marten batches (the
/// bulk append rate), then through the running host measure timeline, field-access and chargeback
/// query latency, the projection rebuild rate and the verify rate, all in one run.
/// </summary>
public static class AuditScaleBenchmark
{
    public static async Task RunAsync(int totalEvents)
    {
        var server = Environment.GetEnvironmentVariable("GOVLEDGER_PG")
            ?? throw new InvalidOperationException("GOVLEDGER_PG is not set: run ./scripts/bench.sh audit");
        var ledgerDb = new NpgsqlConnectionStringBuilder(server) { Database = $"bench_audit_{Guid.NewGuid():N}"[..24] }.ConnectionString;
        var port = DataPlaneBenchmark.FreePort();
        var baseUrl = $"http://127.0.0.1:{port}";
        using var host = DataPlaneBenchmark.StartLedger(port, ledgerDb, ledgerDb, "http://127.0.0.1:9");
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        try
        {
            await DataPlaneBenchmark.WaitHealthy(http, baseUrl, host);
            var admin = await Token(http, baseUrl, """{"sub":"bench.admin@example.com","roles":["platform-admin","auditor","finance"]}""");

            // 200 apps, each with one day of traffic; every other access has its query.
            const int apps = 200;
            var day = new DateTimeOffset(2030, 6, 15, 0, 0, 0, TimeSpan.Zero);
            for (var a = 0; a < apps; a++)
                await Post(http, baseUrl, "/apps", $$"""{"app_id":"scale-app-{{a}}","owner":"owner{{a % 20}}@example.com","scopes":["read:customers"],"connectors":["postgres:salesdb"],"cost_center":"CC-{{a % 7}}"}""", admin);

            await using var store = LedgerHttp.AppendingStore(ledgerDb);
            var random = new Random(42);
            var seeded = 0;
            var append = Stopwatch.StartNew();
            const int batch = 5_000;
            while (seeded < totalEvents)
            {
                await using var session = store.LightweightSession();
                for (var i = 0; i < batch && seeded < totalEvents; i++, seeded++)
                {
                    var app = $"scale-app-{random.Next(apps)}";
                    var at = day.AddSeconds(random.Next(86_400));
                    var stream = $"access:{app}:{at:yyyy-MM-dd}:0";
                    var requestId = $"s{seeded}";
                    if (i % 2 == 0)
                        session.Events.Append(stream, new AccessRecorded(requestId, app, null, $"user{random.Next(50)}", "jti", "data", "data/customers",
                            "POST", "/data/customers/query", 200, 3.5, 120, random.Next(200, 5000), "allow", "served", "runtime-scopes-required", 1, null, at));
                    else
                        session.Events.Append(stream, new QueryExecuted(requestId, app, $"user{random.Next(50)}", "customers",
                            random.Next(4) == 0 ? ["customer_id", "email"] : ["customer_id", "region"], [], [new FilterTerm("region", "eq", "EMEA")], [], 100,
                            random.Next(1, 100), random.Next(200, 5000), random.NextDouble() * 20, "app_role", "EMEA", "runtime-scopes-required", 1, null, at));
                }
                await session.SaveChangesAsync();
            }
            var appendRate = totalEvents / append.Elapsed.TotalSeconds;
            Console.WriteLine($"Seeded {totalEvents:N0} access and query events in batches of {batch:N0}: {appendRate:N0} events/s (bulk append)");

            // Statistics as autovacuum would gather them after a bulk load, so plans fit the data.
            await using (var analyze = new NpgsqlConnection(ledgerDb))
            {
                await analyze.OpenAsync();
                await using var command = new NpgsqlCommand("analyze ledger.mt_events", analyze);
                await command.ExecuteNonQueryAsync();
            }

            // Verify once the chain has caught up with everything seeded; the queries below then run on a quiet ledger.
            var verifyUrl = "/audit/verify";
            JsonNode report;
            var deadline = DateTime.UtcNow.AddMinutes(20);
            while (true)
            {
                report = JsonNode.Parse(await Get(http, baseUrl, verifyUrl, admin))!;
                if (report["events_checked"]!.GetValue<long>() >= totalEvents || DateTime.UtcNow > deadline) break;
                await Task.Delay(2000);
            }
            report = JsonNode.Parse(await Get(http, baseUrl, verifyUrl, admin))!;   // the measured pass, on a caught-up chain
            var from = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(-1).ToString("O"));
            var to = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"));
            var weekFrom = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(-7).ToString("O"));
            var timeline = await Latency(http, baseUrl, admin, 200, i => $"/audit/timeline?app_id=scale-app-{i % apps}&from={from}&to={to}&limit=500");
            var field = await Latency(http, baseUrl, admin, 100, _ => $"/audit/access?dataset=customers&field=email&from={weekFrom}&to={to}&limit=500");

            var rebuild = Stopwatch.StartNew();
            var progress = await Post(http, baseUrl, "/admin/projections/rebuild", null, admin);
            var rebuildSeconds = rebuild.Elapsed.TotalSeconds;
            var chargeback = await Latency(http, baseUrl, admin, 100, i => $"/chargeback?month=2030-06&group_by={(i % 3 == 0 ? "app" : i % 3 == 1 ? "owner" : "cost_center")}");

            var verifySeconds = report["seconds"]!.GetValue<double>();
            var verified = report["events_checked"]!.GetValue<long>();

            Console.WriteLine($"Read side at {totalEvents:N0} events:");
            Console.WriteLine($"  one-app timeline page (500)       p50 {timeline.P50,8:0.00} ms   p99 {timeline.P99,8:0.00} ms   (target p99 < 50 ms)");
            Console.WriteLine($"  who read customers.email, a week  p50 {field.P50,8:0.00} ms   p99 {field.P99,8:0.00} ms");
            Console.WriteLine($"  monthly chargeback                p50 {chargeback.P50,8:0.00} ms   p99 {chargeback.P99,8:0.00} ms");
            var rebuildRate = totalEvents / rebuildSeconds;
            Console.WriteLine($"  projection rebuild                {rebuildRate,10:N0} events/s   vs bulk append {appendRate:N0} events/s: ratio {rebuildRate / appendRate:0.000} (target >= 0.333)");
            Console.WriteLine($"  verify                            {verified / verifySeconds,10:N0} events/s   ({verified:N0} events in {verifySeconds:0.00} s, intact: {report["intact"]}) (target >= 100,000)");
            Console.WriteLine($"  rebuild progress: {progress.Replace('\n', ' ')}");
        }
        finally
        {
            host.Kill(entireProcessTree: true);
            await host.WaitForExitAsync();
        }
    }

    private static async Task<(double P50, double P99)> Latency(HttpClient http, string baseUrl, string token, int count, Func<int, string> url)
    {
        for (var i = 0; i < 5; i++) await Get(http, baseUrl, url(i), token);
        var times = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var t = Stopwatch.GetTimestamp();
            await Get(http, baseUrl, url(i), token);
            times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        times.Sort();
        return (times[count / 2], times[Math.Min(count - 1, (int)(count * 0.99))]);
    }
}
