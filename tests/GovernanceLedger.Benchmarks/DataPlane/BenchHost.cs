using System.Diagnostics;
using GovernanceLedger.Demo;
using GovernanceLedger.Gateway;
using Npgsql;

namespace GovernanceLedger.Benchmarks.DataPlane;

/// <summary>A ledger host process of its own on throwaway databases, with the demo upstream, for one benchmark.</summary>
public sealed class BenchHost : IAsyncDisposable
{
    private readonly DemoUpstream _upstream;
    private BenchHost(DemoUpstream upstream, Process process, string ledgerDb, string baseUrl)
    {
        _upstream = upstream;
        Process = process;
        LedgerDb = ledgerDb;
        BaseUrl = baseUrl;
    }

    public Process Process { get; }
    public string LedgerDb { get; }
    public string BaseUrl { get; }

    /// <summary>Starts the host; <paramref name="mode"/> names the bench.sh mode in the error when PostgreSQL is not given.</summary>
    public static async Task<BenchHost> StartAsync(string mode, HttpClient http, IReadOnlyDictionary<string, string>? settings = null)
    {
        var server = Environment.GetEnvironmentVariable("GOVLEDGER_PG")
            ?? throw new InvalidOperationException($"GOVLEDGER_PG is not set: run ./scripts/bench.sh {mode}");
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var ledgerDb = new NpgsqlConnectionStringBuilder(server) { Database = $"bench_ledger_{suffix}" }.ConnectionString;
        var salesDb = new NpgsqlConnectionStringBuilder(server) { Database = $"bench_sales_{suffix}" }.ConnectionString;
        await SalesDemoDatabase.EnsureAsync(salesDb);
        var upstream = await DemoUpstream.StartAsync("http://127.0.0.1:0");
        var port = DataPlaneBenchmark.FreePort();
        var process = DataPlaneBenchmark.StartLedger(port, ledgerDb, salesDb, upstream.Url, settings);
        var host = new BenchHost(upstream, process, ledgerDb, $"http://127.0.0.1:{port}");
        try
        {
            await DataPlaneBenchmark.WaitHealthy(http, host.BaseUrl, process);
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Process.Kill(entireProcessTree: true);
        await Process.WaitForExitAsync();
        Process.Dispose();
        await _upstream.DisposeAsync();
    }
}
