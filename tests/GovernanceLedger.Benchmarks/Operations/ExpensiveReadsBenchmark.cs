using System.Diagnostics;
using System.Net.Http.Headers;
using GovernanceLedger.Benchmarks.DataPlane;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Demo;
using GovernanceLedger.Gateway;
using Npgsql;

namespace GovernanceLedger.Benchmarks.Operations;

/// <summary>
/// 200 clients (20 auditors) calling /audit/verify over and over for ten seconds against a host process with a
/// ledger of some size, while /health and the gateway are probed; the same probes without the storm, side by side.
/// What must hold: verifies answer 200 or 429 (never 500), and health and the gateway keep answering.
/// </summary>
public static class ExpensiveReadsBenchmark
{
    public static async Task RunAsync(int events)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512 }) { Timeout = TimeSpan.FromMinutes(5) };
        await using var ledger = await BenchHost.StartAsync("expensive", http);
        var (baseUrl, ledgerDb) = (ledger.BaseUrl, ledger.LedgerDb);
        var appToken = await DataPlaneBenchmark.PrepareAppAsync(http, baseUrl);
        await SeedAsync(ledgerDb, events);
        var auditors = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            LedgerHttp.Token(http, baseUrl, $$"""{"sub":"auditor{{i}}@example.com","roles":["auditor"]}""")));
        // The chain must have caught up before verify is worth measuring.
        var sample = await TimeAsync(() => Send(http, baseUrl + "/audit/verify", auditors[0]));
        Console.WriteLine($"Ledger of {events:N0} seeded events; one verify alone: {sample.Ms:0} ms ({sample.Status})");

        var idle = await ProbeAsync(http, baseUrl, appToken, TimeSpan.FromSeconds(5), null);
        // 200 clients verify over and over for 10 s, each waiting as long as a 429's Retry-After asks.
        var storm = TimeSpan.FromSeconds(10);
        var stormEnd = DateTime.UtcNow + storm;
        var clients = Enumerable.Range(0, 200).Select(async i =>
        {
            var seen = new List<int>();
            while (DateTime.UtcNow < stormEnd)
            {
                var (status, retryAfter) = await SendWithRetryAfter(http, baseUrl + "/audit/verify", auditors[i % auditors.Length]);
                seen.Add(status);
                if (retryAfter is { } wait) await Task.Delay(wait);
            }
            return seen;
        }).ToList();
        var underLoad = await ProbeAsync(http, baseUrl, appToken, storm, Task.WhenAll(clients));
        var statuses = (await Task.WhenAll(clients)).SelectMany(s => s).ToList();

        Console.WriteLine($"200 clients repeating GET /audit/verify for {storm.TotalSeconds:0} s (20 auditors), honouring Retry-After:");
        foreach (var group in statuses.GroupBy(s => s).OrderBy(g => g.Key))
            Console.WriteLine($"  {group.Key}: {group.Count()}");
        Console.WriteLine($"  500s: {statuses.Count(s => s >= 500)}   (target 0)");
        Console.WriteLine($"/health p99   idle {idle.HealthP99:0.0} ms   during the storm {underLoad.HealthP99:0.0} ms   (failures {underLoad.HealthFailures})");
        Console.WriteLine($"gateway p99   idle {idle.GatewayP99:0.0} ms   during the storm {underLoad.GatewayP99:0.0} ms   (failures {underLoad.GatewayFailures})");
    }

    private static async Task SeedAsync(string ledgerDb, int events)
    {
        using var store = LedgerHttp.AppendingStore(ledgerDb);
        var at = DateTimeOffset.UtcNow;
        for (var written = 0; written < events; written += 5_000)
        {
            await using var session = store.LightweightSession();
            var batch = Enumerable.Range(written, Math.Min(5_000, events - written)).Select(i => (object)new AccessRecorded(
                $"seed-{i}", "bench-app", null, null, null, "gateway", "crm", "GET", "/gw/crm/contacts", 200, 1, 0, 100, "allow", "served",
                "runtime-scopes-required", 1, null, at)).ToArray();
            session.Events.Append($"access:bench-app:{at:yyyy-MM-dd}:seed{written}", batch);
            await session.SaveChangesAsync();
        }
    }

    private static async Task<int> Send(HttpClient http, string url, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        await response.Content.CopyToAsync(Stream.Null);
        return (int)response.StatusCode;
    }

    private static async Task<(int Status, TimeSpan? RetryAfter)> SendWithRetryAfter(HttpClient http, string url, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        await response.Content.CopyToAsync(Stream.Null);
        return ((int)response.StatusCode, response.Headers.RetryAfter?.Delta);
    }

    private static async Task<(double Ms, int Status)> TimeAsync(Func<Task<int>> send)
    {
        var watch = Stopwatch.StartNew();
        var status = await send();
        return (watch.Elapsed.TotalMilliseconds, status);
    }

    private sealed record Probe(double HealthP99, int HealthFailures, double GatewayP99, int GatewayFailures);

    /// <summary>Health and one gateway request every 20 ms, for the duration or until <paramref name="until"/> completes (at least the duration).</summary>
    private static async Task<Probe> ProbeAsync(HttpClient http, string baseUrl, string appToken, TimeSpan duration, Task? until)
    {
        var health = new List<double>();
        var gateway = new List<double>();
        int healthFailures = 0, gatewayFailures = 0;
        var end = DateTime.UtcNow + duration;
        while (DateTime.UtcNow < end || until is { IsCompleted: false })
        {
            var h = await TimeAsync(async () => (int)(await http.GetAsync(baseUrl + "/health")).StatusCode);
            health.Add(h.Ms);
            if (h.Status != 200) healthFailures++;
            var g = await TimeAsync(() => Send(http, baseUrl + "/gw/crm/contacts?limit=1", appToken));
            gateway.Add(g.Ms);
            if (g.Status != 200) gatewayFailures++;
            await Task.Delay(20);
        }
        static double P99(List<double> values) => values.Order().ElementAt(Math.Max(0, (int)Math.Ceiling(values.Count * 0.99) - 1));
        return new Probe(P99(health), healthFailures, P99(gateway), gatewayFailures);
    }
}
