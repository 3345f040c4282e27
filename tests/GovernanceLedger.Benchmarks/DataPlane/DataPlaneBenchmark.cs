using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using GovernanceLedger.DataProxy;
using GovernanceLedger.Demo;
using GovernanceLedger.Gateway;
using Npgsql;
using Yarp.ReverseProxy.Forwarder;

namespace GovernanceLedger.Benchmarks.DataPlane;

/// <summary>
/// The governed gateway against a bare YARP route to the same upstream, and proxied dataset queries
/// against the same query run directly with Npgsql; one load generator, one run. The ledger host runs
/// as its own process, as it would in production.
/// </summary>
public static class DataPlaneBenchmark
{
    private const int ProxyRounds = 3;

    public static async Task RunAsync(TimeSpan duration)
    {
        var server = Environment.GetEnvironmentVariable("GOVLEDGER_PG")
            ?? throw new InvalidOperationException("GOVLEDGER_PG is not set: run ./scripts/bench.sh dataplane");
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var ledgerDb = new NpgsqlConnectionStringBuilder(server) { Database = $"bench_ledger_{suffix}" }.ConnectionString;
        var salesDb = new NpgsqlConnectionStringBuilder(server) { Database = $"bench_sales_{suffix}" }.ConnectionString;
        await SalesDemoDatabase.EnsureAsync(salesDb);

        await using var upstream = await DemoUpstream.StartAsync("http://127.0.0.1:0");
        // The bare proxy runs as a process of its own, like the ledger host, so the CPU of each is measured alike, and with
        // the host's runtime settings (server GC with fixed heaps, no thread-pool spinning), so neither is tuned alone.
        var barePort = FreePort();
        var bareInfo = new ProcessStartInfo("dotnet", [typeof(DataPlaneBenchmark).Assembly.Location, "bare-yarp", upstream.Url, $"http://127.0.0.1:{barePort}"])
            { RedirectStandardOutput = true, RedirectStandardError = true, Environment = { ["DOTNET_gcServer"] = "1", ["DOTNET_GCDynamicAdaptationMode"] = "0", ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0" } };
        // Runtime experiments reach both processes alike: GOVLEDGER_HOST_DOTNET_<NAME>=<value> is DOTNET_<NAME>=<value> here too.
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
            if (variable.Key is string name && name.StartsWith("GOVLEDGER_HOST_DOTNET_", StringComparison.Ordinal))
                bareInfo.Environment[name["GOVLEDGER_HOST_".Length..]] = variable.Value as string;
        if (Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_PERF") is { Length: > 0 })
        {
            // As for the ledger host: perf names the JIT-compiled frames from /tmp/perf-<pid>.map.
            bareInfo.Environment["DOTNET_PerfMapEnabled"] = "1";
            bareInfo.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        }
        using var bareProcess = Process.Start(bareInfo)!;
        Console.WriteLine($"Bare YARP runs as process {bareProcess.Id}");
        bareProcess.OutputDataReceived += (_, _) => { };
        bareProcess.ErrorDataReceived += (_, _) => { };
        bareProcess.BeginOutputReadLine();
        bareProcess.BeginErrorReadLine();
        var bare = new { Url = $"http://127.0.0.1:{barePort}" };
        var port = FreePort();
        // Access events go through the host-local journal (DataPlane:Journal), as the product runs by default;
        // GOVLEDGER_BENCH_JOURNAL=0 measures a ledger commit per group of waiting requests instead.
        var journal = Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_JOURNAL") == "0" ? null : Directory.CreateTempSubdirectory("govledger-bench-journal-").FullName;
        Console.WriteLine(journal is null
            ? "Access events: a ledger commit per group of waiting requests (GOVLEDGER_BENCH_JOURNAL=0)"
            : $"Access events: flushed to the host's journal ({journal}) before each response, appended to the ledger every 50 ms");
        using var host = StartLedger(port, ledgerDb, salesDb, upstream.Url, journal is null ? null : new Dictionary<string, string> { ["DataPlane__Journal"] = journal });
        Console.WriteLine($"The ledger host runs as process {host.Id}");
        try
        {
            var baseUrl = $"http://127.0.0.1:{port}";
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(10) });
            await WaitHealthy(http, baseUrl, host);
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    using var probe = await http.GetAsync($"{bare.Url}/contacts?limit=1");
                    if (probe.IsSuccessStatusCode) break;
                }
                catch (HttpRequestException) when (attempt < 100) { }
                if (attempt >= 100) throw new TimeoutException("The bare YARP process never answered.");
                await Task.Delay(100);
            }
            var appToken = await PrepareAppAsync(http, baseUrl);

            // Proxied dataset query against the same query run directly with Npgsql under the same RLS context.
            var queryBody = """{"fields":["order_id","region","amount"],"filter":[{"field":"amount","op":"gt","value":100}],"order_by":["order_id"],"limit":20}""";
            async Task<bool> Proxied()
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/data/sales_data/query")
                {
                    Content = new StringContent(queryBody, Encoding.UTF8, "application/json")
                };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", appToken);
                using var response = await http.SendAsync(request);
                await response.Content.CopyToAsync(Stream.Null);
                return response.IsSuccessStatusCode;
            }
            await using var direct = NpgsqlDataSource.Create(salesDb);
            // The same row context the proxy sets: the region and its MAC (row policies ignore a region without one).
            RowContext.Key contextKey;
            await using (var admin = await direct.OpenConnectionAsync()) contextKey = await RowContext.EnsureAsync(admin, CancellationToken.None);
            var directUser = new NpgsqlConnectionStringBuilder(salesDb).Username!;
            var regionMac = contextKey.Mac("EMEA", directUser);
            async Task<bool> Direct()
            {
                // The best a client does directly: the row context and the query in one batch, one round trip.
                await using var connection = await direct.OpenConnectionAsync();
                await using var batch = new NpgsqlBatch(connection);
                var setup = new NpgsqlBatchCommand("select set_config('app.region', $1, true), set_config('app.region_mac', $2, true)");
                setup.Parameters.Add(new NpgsqlParameter { Value = "EMEA" });
                setup.Parameters.Add(new NpgsqlParameter { Value = regionMac });
                batch.BatchCommands.Add(setup);
                var select = new NpgsqlBatchCommand("select order_id, region, amount from curated.sales_data where amount::numeric > $1 order by order_id limit 21");
                select.Parameters.Add(new NpgsqlParameter { Value = 100m });
                batch.BatchCommands.Add(select);
                var rows = new List<object[]>();
                await using (var reader = await batch.ExecuteReaderAsync())
                {
                    await reader.NextResultAsync();
                    while (await reader.ReadAsync()) { var row = new object[3]; reader.GetValues(row); rows.Add(row); }
                }
                System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(rows);
                return rows.Count > 0;   // an empty answer would mean the row context was wrong, not a fast query
            }
            // GOVLEDGER_BENCH_GATEWAY_ONLY=1 skips the data proxy rounds (for profiling the gateway alone).
            if (Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_GATEWAY_ONLY") != "1")
            {
                var proxyWarm = await ProcessCpu.WarmUntilJitSettlesAsync(host.Id, slice => LoadGenerator.ClosedLoopAsync("warm-up", 8, slice, Proxied), TimeSpan.FromSeconds(90));
                // The direct side runs in this process: its own JIT settles the same way.
                var directWarm = await ProcessCpu.WarmUntilJitSettlesAsync(Environment.ProcessId, slice => LoadGenerator.ClosedLoopAsync("warm-up", 8, slice, Direct), TimeSpan.FromSeconds(60));
                Console.WriteLine($"  warm-up: proxied {proxyWarm.TotalSeconds:0} s, direct {directWarm.TotalSeconds:0} s, until the JIT thread (the host's, this process's) used under 2% of a core in two 3-s slices running");
                // Rounds interleaved (the order alternating), so drift on the shared machine hits both sides alike.
                Console.WriteLine($"Data proxy: {ProxyRounds} interleaved rounds of {duration.TotalSeconds:0} s each, 8 workers, each after the host and PostgreSQL have gone quiet");
                var ratios = new List<double>();
                for (var round = 1; round <= ProxyRounds; round++)
                {
                    Task<(LoadResult Load, CpuPerRequest Cpu)> RunDirect() => QuietlyMeasureAsync(host.Id, host.Id,
                        () => LoadGenerator.ClosedLoopAsync($"direct Npgsql query, round {round}", 8, duration, Direct));
                    async Task<(LoadResult Load, CpuPerRequest Cpu)> RunProxied()
                    {
                        await ProcessCpu.WaitUntilQuietAsync(host.Id, TimeSpan.FromSeconds(30));
                        // With a perf profile asked for, the first proxied round is profiled too (<file>.proxy).
                        using var perf = round == 1 ? StartPerf(".proxy", duration) : null;
                        var statements = round == 1 && Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_PGSS") == "1" ? await StatementStats.ResetAsync(ledgerDb) : null;
                        var backends = round == 1 ? await BackendCpu.StartAsync(ledgerDb) : null;
                        var result = await CpuPerRequest.MeasureAsync(host.Id,
                            () => LoadGenerator.ClosedLoopAsync($"proxied dataset query, round {round}", 8, duration, Proxied));
                        if (backends is not null) await backends.PrintAsync(result.Item1.Requests, "the first proxied round");
                        if (perf is not null) await StopPerf(perf, ".proxy");
                        if (statements is not null) await statements.PrintAsync(result.Item1.Requests, "the first proxied round");
                        return result;
                    }
                    var (directResult, proxiedResult) = await AlternatingAsync(round, RunDirect, RunProxied);
                    Console.WriteLine($"  {directResult.Load}   PostgreSQL {directResult.Cpu.PostgresMicroseconds,6:N0} µs/query");
                    Console.WriteLine($"  {proxiedResult.Load}   {proxiedResult.Cpu}");
                    ratios.Add(proxiedResult.Load.PerSecond / directResult.Load.PerSecond);
                }
                ratios.Sort();
                Console.WriteLine($"  proxied/direct query throughput: median {ratios[ratios.Count / 2]:0.000}, range {ratios[0]:0.000}-{ratios[^1]:0.000}   (target >= 0.5)");
            }


            // GOVLEDGER_BENCH_PROXY_ONLY=1 stops after the data proxy rounds (for profiling the proxy alone).
            if (Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_PROXY_ONLY") == "1") return;

            async Task<bool> Bare()
            {
                using var response = await http.GetAsync($"{bare.Url}/contacts?limit=1");
                await response.Content.CopyToAsync(Stream.Null);
                return response.IsSuccessStatusCode;
            }
            async Task<bool> Governed()
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{baseUrl}/gw/crm/contacts?limit=1");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", appToken);
                using var response = await http.SendAsync(request);
                await response.Content.CopyToAsync(Stream.Null);
                return response.IsSuccessStatusCode;
            }

            Console.WriteLine($"Gateway: {duration.TotalSeconds:0} s per measurement, 2 cores shared by load generator, ledger host, upstream and PostgreSQL");
            // Warm-ups until the runtime has finished tiering up the hot paths: a freshly started host spends a large
            // share of its CPU in the JIT for its first seconds under load, which is not its steady state.
            await LoadGenerator.ClosedLoopAsync("warm-up", 16, TimeSpan.FromSeconds(5), Bare);
            var warmed = await ProcessCpu.WarmUntilJitSettlesAsync(host.Id, slice => LoadGenerator.ClosedLoopAsync("warm-up", 16, slice, Governed), TimeSpan.FromSeconds(90));
            Console.WriteLine($"  governed warm-up: {warmed.TotalSeconds:0} s until the host's JIT thread used under 2% of a core in two 3-s slices running");
            // Each measurement starts once the host and PostgreSQL have finished what the previous load left behind.
            await ProcessCpu.WaitUntilQuietAsync(host.Id, TimeSpan.FromSeconds(30));
            // The bare round is profiled too (<file>.bare), so the two profiles compare frame by frame per request.
            using var barePerf = StartPerf(".bare", duration);
            var (bareMax, bareCpu) = await CpuPerRequest.MeasureAsync(bareProcess.Id,
                () => LoadGenerator.ClosedLoopAsync("bare YARP, saturation (32 workers), round 1", 32, duration, Bare));
            if (barePerf is not null) await StopPerf(barePerf, ".bare");
            var stagesBefore = await StagesAsync(http, baseUrl);
            // GOVLEDGER_BENCH_TRACE=<file>: a CPU-sampling trace of the host (dotnet-trace) over the governed saturation run.
            using var trace = Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_TRACE") is { Length: > 0 } traceFile
                ? Process.Start(new ProcessStartInfo(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "dotnet-trace"),
                    ["collect", "-p", host.Id.ToString(), "--profile", "dotnet-sampled-thread-time", "--duration", $"00:00:{(int)duration.TotalSeconds:00}", "--format", "speedscope", "-o", traceFile])
                    { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true })
                : null;
            // GOVLEDGER_BENCH_PERF=<file>: a system-wide CPU profile (perf record) over the governed saturation run, so
            // the host's JIT-compiled frames (perf map) and PostgreSQL's functions are in one picture, on-CPU time only.
            await ProcessCpu.WaitUntilQuietAsync(host.Id, TimeSpan.FromSeconds(30));
            var statements = Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_PGSS") == "1" ? await StatementStats.ResetAsync(ledgerDb) : null;
            var backends = await BackendCpu.StartAsync(ledgerDb);
            var headBefore = await LedgerHeadAsync(ledgerDb);
            // Started after the wait for quiet, so the profile covers the measured run and not the idle before it.
            using var perf = StartPerf("", duration);
            var (govMax, govCpu) = await CpuPerRequest.MeasureAsync(host.Id,
                () => LoadGenerator.ClosedLoopAsync("governed gateway, saturation (32 workers), round 1", 32, duration, Governed));
            var rowsPerRequest = (double)(await LedgerHeadAsync(ledgerDb) - headBefore) / Math.Max(1, govMax.Requests);
            await backends.PrintAsync(govMax.Requests, "the first governed round");
            if (perf is not null) await StopPerf(perf, "");
            if (statements is not null) await statements.PrintAsync(govMax.Requests, "the governed run");
            var stagesAfter = await StagesAsync(http, baseUrl);
            if (trace is not null)
            {
                await trace.StandardOutput.ReadToEndAsync();
                await trace.WaitForExitAsync();
                var speedscope = Directory.GetFiles(Path.GetDirectoryName(Path.GetFullPath(Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_TRACE")!))!, "*.speedscope.json")
                    .OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
                if (speedscope is not null) ProfileSummary.Print(speedscope);
                else Console.WriteLine("  (no speedscope file was written: " + await trace.StandardError.ReadToEndAsync() + ")");
            }
            // Rounds 2 and 3, the order alternating (the pair above is round 1, and alone carries the profiles and the stage
            // histogram), so drift on the shared machine hits bare and governed alike: the ratio is their median.
            var stagedRequests = govMax.Requests;
            var rounds = new List<(LoadResult Bare, CpuPerRequest BareCpu, LoadResult Gov, CpuPerRequest GovCpu)> { (bareMax, bareCpu, govMax, govCpu) };
            for (var round = 2; round <= GatewayRounds; round++)
            {
                var (bareRound, governedRound) = await AlternatingAsync(round,
                    () => QuietlyMeasureAsync(host.Id, bareProcess.Id,
                        () => LoadGenerator.ClosedLoopAsync($"bare YARP, saturation (32 workers), round {round}", 32, duration, Bare)),
                    () => QuietlyMeasureAsync(host.Id, host.Id,
                        () => LoadGenerator.ClosedLoopAsync($"governed gateway, saturation (32 workers), round {round}", 32, duration, Governed)));
                rounds.Add((bareRound.Item1, bareRound.Item2, governedRound.Item1, governedRound.Item2));
            }
            static double Median(IEnumerable<double> values)
            {
                var sorted = values.Order().ToList();
                return sorted[sorted.Count / 2];
            }
            var gatewayRatios = rounds.Select(r => r.Gov.PerSecond / r.Bare.PerSecond).Order().ToList();
            var (bareHost, governedHost, governedPostgres, governedJit) = (Median(rounds.Select(r => r.BareCpu.HostMicroseconds)),
                Median(rounds.Select(r => r.GovCpu.HostMicroseconds)), Median(rounds.Select(r => r.GovCpu.PostgresMicroseconds)),
                Median(rounds.Select(r => r.GovCpu.JitMicroseconds)));

            // Micro apps are many: the same load spread over 20 apps, each request with the next app's token, so a
            // group commit holds several apps' events (each app has streams, usage and traffic summaries of its own).
            var manyTokens = new List<string>();
            for (var i = 1; i <= ManyApps; i++) manyTokens.Add(await PrepareAppAsync(http, baseUrl, $"bench-app-{i:00}", settle: false));
            await Task.Delay(1000);   // let the host's app directory pick the apps up
            var nextApp = 0;
            async Task<bool> GovernedMany()
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{baseUrl}/gw/crm/contacts?limit=1");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", manyTokens[(int)((uint)Interlocked.Increment(ref nextApp) % ManyApps)]);
                using var response = await http.SendAsync(request);
                await response.Content.CopyToAsync(Stream.Null);
                return response.IsSuccessStatusCode;
            }
            await LoadGenerator.ClosedLoopAsync("warm-up", 32, TimeSpan.FromSeconds(3), GovernedMany);
            await ProcessCpu.WaitUntilQuietAsync(host.Id, TimeSpan.FromSeconds(30));
            var manyBackends = await BackendCpu.StartAsync(ledgerDb);
            var manyHead = await LedgerHeadAsync(ledgerDb);
            var (govMany, govManyCpu) = await CpuPerRequest.MeasureAsync(host.Id,
                () => LoadGenerator.ClosedLoopAsync($"governed gateway, {ManyApps} apps, saturation (32 workers)", 32, duration, GovernedMany));
            var manyRowsPerRequest = (double)(await LedgerHeadAsync(ledgerDb) - manyHead) / Math.Max(1, govMany.Requests);
            await manyBackends.PrintAsync(govMany.Requests, $"the governed run across {ManyApps} apps");

            // Open loop at one offered rate, bare then governed, each after the host has gone quiet. The same rate for both,
            // so their CPU per request compares the same work at the same pace (at saturation bare YARP runs at about twice
            // the rate, and each of its wake-ups and system calls serves more requests).
            async Task<(LoadResult Bare, CpuPerRequest BareCpu, LoadResult Gov, CpuPerRequest GovCpu)> AtRateAsync(double rate)
            {
                await ProcessCpu.WaitUntilQuietAsync(host.Id, TimeSpan.FromSeconds(30));
                var (bare, bareCpu) = await CpuPerRequest.MeasureAsync(bareProcess.Id,
                    () => LoadGenerator.OpenLoopAsync($"bare YARP at {rate:N0} req/s", rate, duration, Bare));
                await ProcessCpu.WaitUntilQuietAsync(host.Id, TimeSpan.FromSeconds(30));
                var (gov, govCpu) = await CpuPerRequest.MeasureAsync(host.Id,
                    () => LoadGenerator.OpenLoopAsync($"governed gateway at {rate:N0} req/s", rate, duration, Governed));
                return (bare, bareCpu, gov, govCpu);
            }
            var half = Median(rounds.Select(r => r.Bare.PerSecond)) / 2;
            var (bareHalf, bareHalfCpu, govHalf, govHalfCpu) = await AtRateAsync(half);
            // Half of bare saturation is near the governed gateway's own saturation, so its p99 is mostly queueing. A quarter
            // is a load both carry with room to spare: their latency and CPU per request there compare the work itself.
            var quarter = half / 2;
            var (bareQuarter, bareQuarterCpu, govQuarter, govQuarterCpu) = await AtRateAsync(quarter);
            foreach (var r in rounds)
            {
                Console.WriteLine($"  {r.Bare}   host {r.BareCpu.HostMicroseconds,4:N0} µs   load {r.BareCpu.LoadMicroseconds,4:N0} µs");
                Console.WriteLine($"  {r.Gov}   host {r.GovCpu.HostMicroseconds,4:N0} µs (JIT {r.GovCpu.JitMicroseconds:N0})   PostgreSQL {r.GovCpu.PostgresMicroseconds:N0} µs   load {r.GovCpu.LoadMicroseconds,4:N0} µs   ratio {r.Gov.PerSecond / r.Bare.PerSecond:0.000}");
            }
            foreach (var (atBare, atBareCpu, atGov, atGovCpu) in new[] { (bareHalf, bareHalfCpu, govHalf, govHalfCpu), (bareQuarter, bareQuarterCpu, govQuarter, govQuarterCpu) })
            {
                Console.WriteLine($"  {atBare}   host {atBareCpu.HostMicroseconds,4:N0} µs   load {atBareCpu.LoadMicroseconds,4:N0} µs");
                Console.WriteLine($"  {atGov}   host {atGovCpu.HostMicroseconds,4:N0} µs (JIT {atGovCpu.JitMicroseconds:N0})   PostgreSQL {atGovCpu.PostgresMicroseconds:N0} µs   load {atGovCpu.LoadMicroseconds,4:N0} µs");
            }
            Console.WriteLine($"  governed/bare throughput at saturation: median {gatewayRatios[gatewayRatios.Count / 2]:0.000}, range {gatewayRatios[0]:0.000}-{gatewayRatios[^1]:0.000} over {rounds.Count} interleaved rounds   (target >= 0.7)");
            Console.WriteLine($"  CPU per request, medians of the rounds: bare YARP process {bareHost:N0} µs; governed ledger host {governedHost:N0} µs (JIT {governedJit:N0}), PostgreSQL {governedPostgres:N0} µs");
            Console.WriteLine($"  governed/bare host CPU per request: {governedHost / bareHost:0.00}   (target <= 1.3); PostgreSQL per access event {governedPostgres:N0} µs (target <= 20)");
            Console.WriteLine($"  the load generator and upstream (this process, the same work per request on both sides): bare {Median(rounds.Select(r => r.BareCpu.LoadMicroseconds)):N0} µs, governed {Median(rounds.Select(r => r.GovCpu.LoadMicroseconds)):N0} µs per request at saturation; {bareHalfCpu.LoadMicroseconds:N0} and {govHalfCpu.LoadMicroseconds:N0} µs at {half:N0} req/s; {bareQuarterCpu.LoadMicroseconds:N0} and {govQuarterCpu.LoadMicroseconds:N0} µs at {quarter:N0} req/s");
            Console.WriteLine($"  governed/bare host CPU per request at the same offered rate: {govHalfCpu.HostMicroseconds / Math.Max(1, bareHalfCpu.HostMicroseconds):0.00} at {half:N0} req/s ({govHalfCpu.HostMicroseconds:N0} against {bareHalfCpu.HostMicroseconds:N0} µs), {govQuarterCpu.HostMicroseconds / Math.Max(1, bareQuarterCpu.HostMicroseconds):0.00} at {quarter:N0} req/s ({govQuarterCpu.HostMicroseconds:N0} against {bareQuarterCpu.HostMicroseconds:N0} µs)");
            Console.WriteLine($"  added p99 at half of bare saturation:   {govHalf.P99Ms - bareHalf.P99Ms:0.000} ms   (target <= 5 ms); at a quarter: {govQuarter.P99Ms - bareQuarter.P99Ms:0.000} ms (p50 {govQuarter.P50Ms - bareQuarter.P50Ms:0.000} ms)");
            Console.WriteLine($"  ledger rows per governed request: one app {rowsPerRequest:0.000}, {ManyApps} apps {manyRowsPerRequest:0.000}");
            Console.WriteLine($"  {govMany}");
            Console.WriteLine($"  governed across {ManyApps} apps / bare throughput: {govMany.PerSecond / Median(rounds.Select(r => r.Bare.PerSecond)):0.000} (against the median bare round)   {govManyCpu}");
            // Wall time per stage at saturation, from the host's own stage histogram (data_plane_stage_duration) over the governed run.
            var served = stagedRequests;
            Console.WriteLine($"  governed pipeline by stage at saturation, round 1 (wall time per served request, from the host's stage histogram):");
            foreach (var stage in new[] { "token", "directory", "policy", "limits", "schema", "reveal", "forward", "mask", "event_build", "commit_wait" })
            {
                var (sum, count) = (stagesAfter.GetValueOrDefault(stage).Sum - stagesBefore.GetValueOrDefault(stage).Sum,
                    stagesAfter.GetValueOrDefault(stage).Count - stagesBefore.GetValueOrDefault(stage).Count);
                // The host records one lap in 16 (LedgerTelemetry.StageSampling), chosen at random: the mean of the sampled laps.
                Console.WriteLine($"    {stage,-12} {(count > 0 ? sum * 1000 / count : 0),9:N1} µs   ({count:N0} sampled laps)");
            }
            Console.WriteLine("  host's garbage collections per 1,000 governed requests at saturation: " + string.Join(", ", new[] { "gen0", "gen1", "gen2" }
                .Select(g => $"{g} {(served > 0 ? (stagesAfter.GetValueOrDefault("gc:" + g).Count - stagesBefore.GetValueOrDefault("gc:" + g).Count) * 1000.0 / served : 0):0.00}"))
                + $"; allocated per request {(served > 0 ? (stagesAfter.GetValueOrDefault("gc:allocated").Sum - stagesBefore.GetValueOrDefault("gc:allocated").Sum) / served : 0):N0} bytes");
            var flushes = stagesAfter.GetValueOrDefault("journal:flushes").Count - stagesBefore.GetValueOrDefault("journal:flushes").Count;
            if (flushes > 0) Console.WriteLine($"  journal flushes (fdatasync) in round 1: {flushes:N0}, {(double)served / flushes:N1} served requests per flush");

            // A second figure: PostgreSQL on one core, everything else (generator, host, bare proxy, upstream) on the other.
            if (Environment.ProcessorCount >= 2)
            {
                ProcessCpu.Pin(ProcessCpu.PostgresPids(), "0");
                ProcessCpu.Pin([Environment.ProcessId, host.Id, bareProcess.Id], "1");
                try
                {
                    Console.WriteLine("Gateway with PostgreSQL pinned to CPU 0 and the rest to CPU 1 (taskset):");
                    await LoadGenerator.ClosedLoopAsync("warm-up", 16, TimeSpan.FromSeconds(2), Governed);
                    await ProcessCpu.WaitUntilQuietAsync(host.Id, TimeSpan.FromSeconds(30));
                    var (pinnedBare, pinnedBareCpu) = await CpuPerRequest.MeasureAsync(bareProcess.Id,
                        () => LoadGenerator.ClosedLoopAsync("bare YARP, pinned, saturation (32 workers)", 32, duration, Bare));
                    await ProcessCpu.WaitUntilQuietAsync(host.Id, TimeSpan.FromSeconds(30));
                    var (pinnedGov, pinnedGovCpu) = await CpuPerRequest.MeasureAsync(host.Id,
                        () => LoadGenerator.ClosedLoopAsync("governed gateway, pinned, saturation (32 workers)", 32, duration, Governed));
                    Console.WriteLine($"  {pinnedBare}");
                    Console.WriteLine($"  {pinnedGov}");
                    Console.WriteLine($"  governed/bare throughput, pinned: {pinnedGov.PerSecond / pinnedBare.PerSecond:0.000}   bare {pinnedBareCpu}   governed {pinnedGovCpu}");
                }
                finally
                {
                    var all = $"0-{Environment.ProcessorCount - 1}";
                    ProcessCpu.Pin(ProcessCpu.PostgresPids(), all);
                    ProcessCpu.Pin([Environment.ProcessId, host.Id, bareProcess.Id], all);
                }
            }

            if (LoadGenerator.FirstError is { } error) Console.WriteLine($"First error seen: {error.Split('\n')[0]}");
        }
        finally
        {
            host.Kill(entireProcessTree: true);
            await host.WaitForExitAsync();
            bareProcess.Kill(entireProcessTree: true);
            await bareProcess.WaitForExitAsync();
            if (journal is not null) Directory.Delete(journal, recursive: true);
        }
    }

    /// <summary>One round's two measurements, the first first in odd rounds and second in even ones, so drift on the shared machine hits both alike.</summary>
    private static async Task<(T First, T Second)> AlternatingAsync<T>(int round, Func<Task<T>> first, Func<Task<T>> second)
    {
        if (round % 2 == 1)
        {
            var early = await first();
            return (early, await second());
        }
        var late = await second();
        return (await first(), late);
    }

    /// <summary>Waits until the host and PostgreSQL have gone quiet, then measures one load with the CPU of a process and of PostgreSQL.</summary>
    private static async Task<(LoadResult Load, CpuPerRequest Cpu)> QuietlyMeasureAsync(int hostPid, int measuredPid, Func<Task<LoadResult>> run)
    {
        await ProcessCpu.WaitUntilQuietAsync(hostPid, TimeSpan.FromSeconds(30));
        return await CpuPerRequest.MeasureAsync(measuredPid, run);
    }

    private const int ManyApps = 20;
    private const int GatewayRounds = 5;

    /// <summary>The ledger's last event sequence number: its difference over a run is the rows the run appended.</summary>
    private static async Task<long> LedgerHeadAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select coalesce(max(seq_id), 0) from ledger.mt_events", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public static async Task<string> PrepareAppAsync(HttpClient http, string baseUrl, string appId = "bench-app", bool settle = true)
    {
        async Task<JsonNode> Post(string path, string? json, string? token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, baseUrl + path);
            if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {body}");
            return JsonNode.Parse(body)!;
        }
        var owner = (await Post("/dev/tokens", """{"sub":"bench@example.com","roles":["app-owner"]}""", null))["access_token"]!.GetValue<string>();
        await Post("/apps", """
            {"app_id":"APP_ID","owner":"bench@example.com","scopes":["read:contacts","read:sales_data"],
             "connectors":["postgres:salesdb","crm:contacts"],
             "datasets":[{"name":"sales_data","fields":["order_id","region","amount"]}],
             "quotas":{"requests_per_day":100000000,"requests_per_second":100000,"rows_per_day":100000000000},
             "audience":{"people":["bench.user@example.com"]}}
            """.Replace("APP_ID", appId), owner);
        // Quotas above the defaults are a reviewer's call.
        var reviewer = (await Post("/dev/tokens", """{"sub":"bench.reviewer@example.com","roles":["security-reviewer"]}""", null))["access_token"]!.GetValue<string>();
        await Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"load test quotas"}""", reviewer);
        var user = (await Post("/dev/tokens", """{"sub":"bench.user@example.com","region":"EMEA"}""", null))["access_token"]!.GetValue<string>();
        var token = (await Post($"/apps/{appId}/tokens", """{"expires_in":3600}""", user))["access_token"]!.GetValue<string>();
        if (settle) await Task.Delay(1000);   // let the host's app directory pick the app up
        return token;
    }

    public const string ScrapeToken = "bench-scrape-token";

    /// <summary>The host's stage histogram so far: per stage, the sum of milliseconds and the number of laps.</summary>
    public static async Task<Dictionary<string, (double Sum, long Count)>> StagesAsync(HttpClient http, string baseUrl)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{baseUrl}/metrics");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ScrapeToken);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var stages = new Dictionary<string, (double Sum, long Count)>();
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text,
                     @"^data_plane_stage_duration_milliseconds_(sum|count)\{[^}]*stage=""([a-z_]+)""[^}]*\} ([0-9.eE+-]+)", System.Text.RegularExpressions.RegexOptions.Multiline))
        {
            var value = double.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
            var current = stages.GetValueOrDefault(m.Groups[2].Value);
            stages[m.Groups[2].Value] = m.Groups[1].Value == "sum" ? (current.Sum + value, current.Count) : (current.Sum, current.Count + (long)value);
        }
        // The runtime's collections so far, per generation (System.Runtime's dotnet.gc.collections), as "gc:gen0" and so on.
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text,
                     @"^dotnet_gc_collections(?:_total)?\{[^}]*gc_heap_generation=""(gen[0-2])""[^}]*\} ([0-9.eE+-]+)", System.Text.RegularExpressions.RegexOptions.Multiline))
            stages["gc:" + m.Groups[1].Value] = (0, (long)double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        // Bytes the host has allocated so far (System.Runtime's dotnet.gc.heap.total_allocated), as "gc:allocated".
        if (System.Text.RegularExpressions.Regex.Match(text, @"^dotnet_gc_heap_total_allocated\w*(?:\{[^}]*\})? ([0-9.eE+-]+)",
                System.Text.RegularExpressions.RegexOptions.Multiline) is { Success: true } allocated)
            stages["gc:allocated"] = (double.Parse(allocated.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 0);
        // Groups flushed to the host's journal so far (data_plane_journal_flushes_total), as "journal:flushes".
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text,
                     @"^data_plane_journal_flushes_total(?:\{[^}]*\})? ([0-9.eE+-]+)", System.Text.RegularExpressions.RegexOptions.Multiline))
            stages["journal:flushes"] = (0, stages.GetValueOrDefault("journal:flushes").Count + (long)double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        return stages;
    }

    /// <summary>
    /// PostgreSQL's CPU over one run by server process, each named as pg_stat_activity names it: the ledger's pools by
    /// their application names (the access writer, the chain, the shared pool, Marten's store, the proxy's per-app
    /// logins), the server's own processes by their kind (autovacuum, WAL writer, checkpointer).
    /// </summary>
    private sealed class BackendCpu
    {
        private readonly Dictionary<int, (string Name, double Cpu)> _before;
        private readonly PostgresCpu _total;
        private readonly string _connectionString;

        private BackendCpu(string connectionString, Dictionary<int, (string Name, double Cpu)> before, PostgresCpu total) =>
            (_connectionString, _before, _total) = (connectionString, before, total);

        public static async Task<BackendCpu> StartAsync(string connectionString) =>
            new(connectionString, await SnapshotAsync(connectionString), ProcessCpu.OfPostgres());

        private static async Task<Dictionary<int, (string Name, double Cpu)>> SnapshotAsync(string connectionString)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "select pid, coalesce(nullif(application_name, ''), backend_type) from pg_stat_activity where pid <> pg_backend_pid()", connection);
            var processes = new Dictionary<int, (string Name, double Cpu)>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                processes[reader.GetInt32(0)] = (reader.IsDBNull(1) ? "?" : reader.GetString(1), ProcessCpu.Of(reader.GetInt32(0)));
            return processes;
        }

        public async Task PrintAsync(long requests, string run)
        {
            var total = ProcessCpu.OfPostgres() - _total;
            var after = await SnapshotAsync(_connectionString);
            var byName = after
                .Select(p => (p.Value.Name, Used: p.Value.Cpu - (_before.TryGetValue(p.Key, out var was) ? was.Cpu : 0)))
                .GroupBy(p => p.Name.StartsWith("data-proxy:", StringComparison.Ordinal) ? "data-proxy:<app>" : p.Name)
                .Select(g => (Name: g.Key, Used: g.Sum(p => p.Used)))
                .Where(g => g.Used > 0).OrderByDescending(g => g.Used).ToList();
            Console.WriteLine($"  PostgreSQL CPU by server process over {run} (µs per served request; total {total / Math.Max(1, requests):N1}):");
            foreach (var (name, used) in byName)
                Console.WriteLine($"    {used / Math.Max(1, requests),7:N1} µs  {100 * used / Math.Max(1, total),5:N1}%  {name}");
            var named = byName.Sum(g => g.Used);
            // What ended during the run counts only for its time in the run (see PostgresCpu).
            Console.WriteLine($"    {(total - named) / Math.Max(1, requests),7:N1} µs  {100 * (total - named) / Math.Max(1, total),5:N1}%  the postmaster, and processes that ended during the run (their part in it)");
        }
    }

    /// <summary>What PostgreSQL spent its time on over one run, by statement (pg_stat_statements).</summary>
    private sealed class StatementStats(string connectionString)
    {
        public static async Task<StatementStats> ResetAsync(string connectionString)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var reset = new NpgsqlCommand("create extension if not exists pg_stat_statements; select pg_stat_statements_reset();", connection);
            await reset.ExecuteNonQueryAsync();
            return new StatementStats(connectionString);
        }

        public async Task PrintAsync(long requests, string run)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var top = new NpgsqlCommand("""
                select calls, total_exec_time + total_plan_time, rows, left(regexp_replace(query, '\s+', ' ', 'g'), case when query like '%mt_events as d%' then 700 else 110 end)
                from pg_stat_statements order by total_exec_time + total_plan_time desc limit 15
                """, connection);
            await using var reader = await top.ExecuteReaderAsync();
            Console.WriteLine($"  PostgreSQL time by statement over {run} (pg_stat_statements, every database; µs per served request):");
            while (await reader.ReadAsync())
                Console.WriteLine($"    {reader.GetDouble(1) * 1000 / Math.Max(1, requests),7:N1} µs  {reader.GetInt64(0),8:N0} calls  {reader.GetInt64(2),9:N0} rows  {reader.GetString(3)}");
        }
    }

    private static Process? StartPerf(string suffix, TimeSpan duration) =>
        Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_PERF") is { Length: > 0 } file
            // GOVLEDGER_BENCH_PERF_EVENTS=<events>: trace those events (for example sched:sched_wakeup) instead of sampling CPU.
            ? Process.Start(new ProcessStartInfo("perf", [.. "record -a -g".Split(' '),
                    .. Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_PERF_EVENTS") is { Length: > 0 } events ? ["-e", events] : new[] { "-F", "499" },
                    "-o", file + suffix, "--", "sleep", $"{(int)duration.TotalSeconds}"])
                { RedirectStandardOutput = true, RedirectStandardError = true })
            : null;

    private static async Task StopPerf(Process perf, string suffix)
    {
        await perf.StandardError.ReadToEndAsync();
        await perf.WaitForExitAsync();
        Console.WriteLine($"  perf profile written to {Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_PERF")}{suffix} (perf report -i <file> --no-children --sort comm,dso,sym)");
    }

    public static Process StartLedger(int port, string ledgerDb, string salesDb, string upstream, IReadOnlyDictionary<string, string>? settings = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "GovernanceLedger.dll");
        var info = new ProcessStartInfo("dotnet", [dll, "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        info.Environment["ConnectionStrings__Ledger"] = ledgerDb;
        info.Environment["ConnectionStrings__SalesDb"] = salesDb;
        info.Environment["Gateway__Routes__0__Upstream"] = upstream;
        info.Environment["Gateway__DemoUpstreamUrl"] = "";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["Tokens__MaxLifetime"] = "02:00:00";
        info.Environment["Metrics__ScrapeToken"] = ScrapeToken;
        // With a perf profile asked for, the runtime writes /tmp/perf-<pid>.map so perf can name JIT-compiled frames.
        if (Environment.GetEnvironmentVariable("GOVLEDGER_BENCH_PERF") is { Length: > 0 })
        {
            info.Environment["DOTNET_PerfMapEnabled"] = "1";
            // Without the double mapping of W^X, JIT-compiled code lives in anonymous memory the perf map names.
            info.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        }
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) info.Environment[key] = value;
        // GOVLEDGER_HOST_<NAME>=<value> reaches the host as <NAME>=<value>: runtime or configuration experiments without a rebuild.
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
            if (variable.Key is string name && name.StartsWith("GOVLEDGER_HOST_", StringComparison.Ordinal))
                info.Environment[name["GOVLEDGER_HOST_".Length..]] = variable.Value as string;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line && line.Contains("fail")) Console.Error.WriteLine(line); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public static async Task WaitHealthy(HttpClient http, string baseUrl, Process process)
    {
        for (var i = 0; i < 300; i++)
        {
            if (process.HasExited) throw new InvalidOperationException($"The ledger host exited with {process.ExitCode}.");
            try
            {
                using var response = await http.GetAsync($"{baseUrl}/health");
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException("The ledger host did not become healthy.");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The comparison point: YARP forwarding to the same upstream with nothing else in the way.</summary>
public sealed class BareYarp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private BareYarp(WebApplication app, string url) { _app = app; Url = url; }
    public string Url { get; }

    public static async Task<BareYarp> StartAsync(string upstream, string listenOn = "http://127.0.0.1:0")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(listenOn);
        builder.Logging.ClearProviders();
        builder.Services.AddHttpForwarder();
        var app = builder.Build();
        var client = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false });
        var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
        // A RequestDelegate, so nothing but YARP writes the response.
        app.Map("/{**rest}", async context =>
        {
            await forwarder.SendAsync(context, upstream, client, ForwarderRequestConfig.Empty, HttpTransformer.Default);
        });
        await app.StartAsync();
        var url = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();
        return new BareYarp(app, url);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
