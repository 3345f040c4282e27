using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Alba;
using BenchmarkDotNet.Attributes;
using GovernanceLedger.Contracts.Apps;
using JasperFx.CommandLine;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Wolverine;

namespace GovernanceLedger.Benchmarks;

/// <summary>
/// Registrations, token issuances and lifecycle commands through the real host (HTTP pipeline, authentication, schema
/// validation, CEL policies, Marten appends and the inline catalog projection), each measured next
/// to the raw rate of appending one event with Marten against the same database.
/// </summary>
[MemoryDiagnoser]
public class ControlPlaneBenchmarks
{
    private IAlbaHost _host = null!;
    private HttpClient _client = null!;
    private IDocumentStore _store = null!;
    private string _database = "";
    private string _ownerToken = "";
    private string _tokenApp = "";
    private readonly string[] _lifecycleApps = Enumerable.Range(0, 8).Select(i => $"bench-lifecycle-{i}").ToArray();
    private int _counter;

    [GlobalSetup]
    public async Task Setup()
    {
        var server = Environment.GetEnvironmentVariable("GOVLEDGER_PG")
            ?? throw new InvalidOperationException("GOVLEDGER_PG is not set: run ./scripts/bench.sh");
        _database = $"ledger_bench_{Guid.NewGuid():N}"[..24];
        JasperFxEnvironment.AutoStartHost = true;
        // The test host looks for the content root beside the solution; point it at the host project.
        Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_GOVERNANCELEDGER", HostProjectDirectory());
        _host = await AlbaHost.For<global::Program>(x =>
        {
            x.UseEnvironment("Development");
            x.UseSetting("ConnectionStrings:Ledger", new NpgsqlConnectionStringBuilder(server) { Database = _database }.ConnectionString);
            x.UseSetting("Logging:LogLevel:Default", "Warning");
            x.ConfigureServices(s =>
            {
                s.RunWolverineInSoloMode();
                s.DisableAllExternalWolverineTransports();
            });
        });
        _client = _host.Server.CreateClient();
        _store = _host.Services.GetRequiredService<IDocumentStore>();
        var dev = await Post("/dev/tokens", """{"sub":"sales_ops@example.com","roles":["app-owner"]}""", null);
        _ownerToken = JsonNode.Parse(dev)!["access_token"]!.GetValue<string>();
        _tokenApp = "bench-token-app";
        await Post("/apps", Manifest(_tokenApp), _ownerToken);
        foreach (var app in _lifecycleApps) await Post("/apps", Manifest(app), _ownerToken);
    }

    private static string HostProjectDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GovernanceLedger.sln")))
                return Path.Combine(dir.FullName, "src", "GovernanceLedger");
        throw new DirectoryNotFoundException("GovernanceLedger.sln not found above " + AppContext.BaseDirectory);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _host.StopAsync();
        await _host.DisposeAsync();
    }

    private static string Manifest(string appId) =>
        $$"""{"app_id":"{{appId}}","owner":"sales_ops@example.com","scopes":["read:contacts","read:sales_metrics"],"connectors":["postgres:salesdb","bigquery:analytics"],"data_retention_days":30}""";

    private async Task<string> Post(string path, string? json, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await _client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {body}");
        return body;
    }

    [Benchmark(Baseline = true, Description = "raw event append (Marten, 1 event, new stream)")]
    public async Task RawAppend()
    {
        await using var session = _store.LightweightSession();
        var id = $"raw-{Interlocked.Increment(ref _counter)}-{Guid.NewGuid():N}";
        session.Events.StartStream(id, new AppPaused(id, "benchmark", "ledger", DateTimeOffset.UtcNow));
        await session.SaveChangesAsync();
    }

    [Benchmark(Description = "register app (POST /apps, 8 policies, 11 events)")]
    public Task Register() => Post("/apps", Manifest($"bench-{Interlocked.Increment(ref _counter)}-{Guid.NewGuid():N}"[..40].TrimEnd('-')), _ownerToken);

    [Benchmark(Description = "issue app token (POST /apps/{id}/tokens)")]
    public Task IssueToken() => Post($"/apps/{_tokenApp}/tokens", null, _ownerToken);

    /// <summary>Two lifecycle commands through the aggregate workflow, round robin over eight apps so streams grow slowly.</summary>
    [Benchmark(Description = "pause + resume (2 commands, expected_version omitted)")]
    public async Task PauseAndResume()
    {
        var app = _lifecycleApps[Interlocked.Increment(ref _counter) % _lifecycleApps.Length];
        await Post($"/apps/{app}/pause", """{"reason":"benchmark pause"}""", _ownerToken);
        await Post($"/apps/{app}/resume", """{"reason":"benchmark resume"}""", _ownerToken);
    }
}
