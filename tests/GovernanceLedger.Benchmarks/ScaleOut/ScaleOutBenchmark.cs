using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using GovernanceLedger.Benchmarks.DataPlane;
using GovernanceLedger.Demo;
using GovernanceLedger.Gateway;
using Npgsql;

namespace GovernanceLedger.Benchmarks.ScaleOut;

/// <summary>
/// One, two and three ledger hosts on this machine behind HAProxy (one port, round robin), sharing one PostgreSQL: the
/// governed gateway's aggregate throughput at each size, and its correctness there: every response served has its access
/// event in the ledger (checked by request id), and a daily quota is held across instances (exactly that many requests
/// served, the rest refused).
/// </summary>
public static class ScaleOutBenchmark
{
    public static async Task RunAsync(TimeSpan duration, int maxInstances = 3)
    {
        var server = Environment.GetEnvironmentVariable("GOVLEDGER_PG")
            ?? throw new InvalidOperationException("GOVLEDGER_PG is not set: run ./scripts/bench.sh scaleout");
        var haproxy = Environment.GetEnvironmentVariable("GOVLEDGER_HAPROXY") is { Length: > 0 } path ? path : "/usr/sbin/haproxy";
        if (!File.Exists(haproxy)) throw new InvalidOperationException($"HAProxy is not at {haproxy}: ./scripts/bench.sh scaleout installs Debian's haproxy.");
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var ledgerDb = new NpgsqlConnectionStringBuilder(server) { Database = $"bench_ledger_{suffix}" }.ConnectionString;
        var salesDb = new NpgsqlConnectionStringBuilder(server) { Database = $"bench_sales_{suffix}" }.ConnectionString;
        await SalesDemoDatabase.EnsureAsync(salesDb);
        await using var upstream = await DemoUpstream.StartAsync("http://127.0.0.1:0");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(10) });
        var hosts = new List<(Process Process, int Port)>();
        var balancerPort = DataPlaneBenchmark.FreePort();
        var balancerUrl = $"http://127.0.0.1:{balancerPort}";
        Process? balancer = null;
        var config = Path.Combine(Path.GetTempPath(), $"bench-haproxy-{suffix}.cfg");
        try
        {
            // Each instance journals to a directory of its own (DataPlane:Journal), as the product runs by default;
            // GOVLEDGER_BENCH_JOURNAL=0 measures a ledger commit per group of waiting requests instead.
            var journals = Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_JOURNAL") != "0";
            Console.WriteLine($"Scale-out: governed gateway behind HAProxy, {duration.TotalSeconds:0} s per size, 32 workers, one PostgreSQL, {Environment.ProcessorCount} cores for everything; " +
                (journals ? "access events through each instance's journal" : "a ledger commit per group of waiting requests (GOVLEDGER_BENCH_JOURNAL=0)"));
            string? token = null, quotaToken = null;
            for (var n = 1; n <= maxInstances; n++)
            {
                var port = DataPlaneBenchmark.FreePort();
                var settings = new Dictionary<string, string> { ["Warehouse__Scheduled"] = "false", ["Operations__Detectors"] = "false" };
                if (journals) settings["DataPlane__Journal"] = Directory.CreateTempSubdirectory($"govledger-bench-journal-{n}-").FullName;
                var process = DataPlaneBenchmark.StartLedger(port, ledgerDb, salesDb, upstream.Url, settings);
                hosts.Add((process, port));
                await DataPlaneBenchmark.WaitHealthy(http, $"http://127.0.0.1:{port}", process);
                balancer = await RestartBalancerAsync(balancer, haproxy, config, balancerPort, hosts.Select(h => h.Port));
                await WaitAsync(http, $"{balancerUrl}/health");
                // Setup goes to the first instance: the development sign-in's keys are each instance's own (production
                // people tokens come from the organisation's issuer, which every instance trusts alike).
                var first = $"http://127.0.0.1:{hosts[0].Port}";
                token ??= await DataPlaneBenchmark.PrepareAppAsync(http, first);
                // Every instance knows how many share the per-second rate; let the newcomer be counted by all.
                await Task.Delay(TimeSpan.FromSeconds(6));

                var ids = new ConcurrentBag<string>();
                var failures = new ConcurrentDictionary<int, int>();
                async Task<bool> Governed()
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, $"{balancerUrl}/gw/crm/contacts?limit=1");
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                    using var response = await http.SendAsync(request);
                    await response.Content.CopyToAsync(Stream.Null);
                    if (response.IsSuccessStatusCode && response.Headers.TryGetValues("X-Request-Id", out var id)) ids.Add(id.First());
                    if (!response.IsSuccessStatusCode) failures.AddOrUpdate((int)response.StatusCode, 1, (_, c) => c + 1);
                    return response.IsSuccessStatusCode;
                }
                await LoadGenerator.ClosedLoopAsync("warm-up", 16, TimeSpan.FromSeconds(3), Governed);
                ids.Clear();
                failures.Clear();
                LoadGenerator.FirstError = null;
                var load = await LoadGenerator.ClosedLoopAsync($"{n} instance(s) behind HAProxy", 32, duration, Governed);
                // With journals, the ledger takes each instance's records every 50 ms: they are looked for for up to 10 s.
                var drainWait = Stopwatch.StartNew();
                var missing = await MissingEventsAsync(ledgerDb, ids.ToList());
                while (missing > 0 && journals && drainWait.Elapsed < TimeSpan.FromSeconds(10))
                {
                    await Task.Delay(250);
                    missing = await MissingEventsAsync(ledgerDb, ids.ToList());
                }
                Console.WriteLine($"  {load}");
                Console.WriteLine($"    served {ids.Count:N0}; access events missing for served responses: {missing}" +
                    (!journals ? "" : missing == 0 ? $" (all present {drainWait.Elapsed.TotalSeconds:0.0} s after the load ended)" : $" (after waiting {drainWait.Elapsed.TotalSeconds:0} s)") +
                    (failures.IsEmpty ? "" : $"; not served: {string.Join(", ", failures.OrderBy(f => f.Key).Select(f => $"{f.Value} × {f.Key}"))}") +
                    (LoadGenerator.FirstError is { } transport ? $"; first transport error: {transport.Split('\n')[0]}" : ""));

                // A daily quota of 500 requests, hammered through every instance at once: exactly 500 are served.
                quotaToken = await QuotaAppAsync(http, first, $"bench-quota-{n}", 500);
                var (ok, refused) = (0, 0);
                await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
                {
                    for (var i = 0; i < 40; i++)
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Get, $"{balancerUrl}/gw/crm/contacts?limit=1");
                        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", quotaToken);
                        using var response = await http.SendAsync(request);
                        if (response.IsSuccessStatusCode) Interlocked.Increment(ref ok);
                        else if ((int)response.StatusCode == 429) Interlocked.Increment(ref refused);
                    }
                })));
                // Usage is billed by every instance into one document per app and day: none may overwrite another's count.
                var billed = await BilledRequestsAsync(ledgerDb, $"bench-quota-{n}");
                for (var waited = 0; billed < ok && journals && waited < 40; waited++)
                {
                    await Task.Delay(250);
                    billed = await BilledRequestsAsync(ledgerDb, $"bench-quota-{n}");
                }
                Console.WriteLine($"    daily quota 500 across {n} instance(s): {ok} served, {refused} refused with 429 (of 1,280 sent); usage billed: {billed} requests");
            }
            if (LoadGenerator.FirstError is { } error) Console.WriteLine($"First error seen: {error.Split('\n')[0]}");
        }
        finally
        {
            if (balancer is { HasExited: false }) { balancer.Kill(); await balancer.WaitForExitAsync(); }
            foreach (var (process, _) in hosts)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            File.Delete(config);
        }
    }

    private static async Task<Process> RestartBalancerAsync(Process? running, string haproxy, string config, int port, IEnumerable<int> backends)
    {
        if (running is { HasExited: false })
        {
            running.Kill();
            await running.WaitForExitAsync();
        }
        var servers = string.Join("\n", backends.Select((p, i) => $"    server ledger{i + 1} 127.0.0.1:{p} check inter 1s"));
        await File.WriteAllTextAsync(config, $"""
            global
                maxconn 4096
            defaults
                mode http
                timeout connect 5s
                timeout client 60s
                timeout server 60s
                option http-keep-alive
            frontend ledger
                bind 127.0.0.1:{port}
                default_backend ledgers
            backend ledgers
                balance roundrobin
                option httpchk GET /health
            {servers}

            """);
        var process = Process.Start(new ProcessStartInfo(haproxy, ["-db", "-f", config]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line && line.Contains("ALERT")) Console.Error.WriteLine(line); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitAsync(HttpClient http, string url)
    {
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var response = await http.GetAsync(url);
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{url} never answered through the balancer.");
    }

    /// <summary>The requests the usage read model bills the app for today.</summary>
    private static async Task<long> BilledRequestsAsync(string ledgerDb, string appId)
    {
        await using var connection = new NpgsqlConnection(ledgerDb);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select coalesce(sum((data->>'Requests')::bigint), 0)::bigint from ledger.mt_doc_usageday where data->>'AppId' = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = appId });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>How many of the served responses' request ids have no access event in the ledger.</summary>
    private static async Task<long> MissingEventsAsync(string ledgerDb, IReadOnlyList<string> ids)
    {
        await using var connection = new NpgsqlConnection(ledgerDb);
        await connection.OpenAsync();
        // An access is its own event, or one of allowed accesses committed together (AccessesRecorded: its fields its own or shared).
        await using var command = new NpgsqlCommand("""
            with recorded as (
              select e.data->>'RequestId' as id from ledger.mt_events e where e.type = 'access_recorded'
              union all
              select coalesce(a->>'RequestId', e.data->'Shared'->>'RequestId') from ledger.mt_events e, jsonb_array_elements(e.data->'Accesses') a
              where e.type = 'accesses_recorded')
            select count(*) from unnest($1::text[]) as served(id) where not exists (select 1 from recorded r where r.id = served.id)
            """, connection) { CommandTimeout = 600 };
        command.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<string> QuotaAppAsync(HttpClient http, string baseUrl, string appId, int perDay)
    {
        async Task<JsonNode> Post(string path, string? json, string? bearer) => JsonNode.Parse(await LedgerHttp.Post(http, baseUrl, path, json, bearer))!;
        var owner = (await Post("/dev/tokens", """{"sub":"bench@example.com","roles":["app-owner"]}""", null))["access_token"]!.GetValue<string>();
        var manifest = new JsonObject
        {
            ["app_id"] = appId, ["owner"] = "bench@example.com", ["scopes"] = new JsonArray("read:contacts"), ["connectors"] = new JsonArray("crm:contacts"),
            ["quotas"] = new JsonObject { ["requests_per_day"] = perDay, ["requests_per_second"] = 100000 },
            ["audience"] = new JsonObject { ["people"] = new JsonArray("bench.user@example.com") }
        };
        var registered = await Post("/apps", manifest.ToJsonString(), owner);
        if (registered["status"]!.GetValue<string>() == "pending_review")
        {
            var reviewer = (await Post("/dev/tokens", """{"sub":"bench.reviewer@example.com","roles":["security-reviewer"]}""", null))["access_token"]!.GetValue<string>();
            await Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"scale-out quota check"}""", reviewer);
        }
        var user = (await Post("/dev/tokens", """{"sub":"bench.user@example.com","region":"EMEA"}""", null))["access_token"]!.GetValue<string>();
        var token = (await Post($"/apps/{appId}/tokens", """{"expires_in":3600}""", user))["access_token"]!.GetValue<string>();
        await Task.Delay(1500);   // every instance's app directory picks the app up
        return token;
    }
}
