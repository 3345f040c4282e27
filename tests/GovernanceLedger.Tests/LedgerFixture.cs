using GovernanceLedger.Contracts.Access;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Alba;
using JasperFx.CommandLine;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Wolverine;

namespace GovernanceLedger.Tests;

/// <summary>
/// One real host (Development environment, so the development issuer exists) against a fresh
/// PostgreSQL database created for this run. Tests share it and create their own apps.
/// </summary>
public class LedgerFixture : IAsyncLifetime
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);
    public IAlbaHost Host { get; private set; } = null!;
    public string ConnectionString { get; private set; } = "";
    public string SalesConnectionString { get; private set; } = "";
    public GovernanceLedger.Gateway.DemoUpstream Upstream { get; private set; } = null!;
    /// <summary>An upstream that sends what no well-behaved server would, behind the route "raw".</summary>
    public Gateway.RawUpstream RawUpstream { get; } = new();
    public const string ScrapeToken = "test-scrape-token";
    private string _database = "";

    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable("GOVLEDGER_PG")
        ?? throw new InvalidOperationException(
            "GOVLEDGER_PG is not set: run the suite with ./scripts/test.sh, which starts a throwaway PostgreSQL.");

    public virtual async Task InitializeAsync()
    {
        _database = $"ledger_test_{Guid.NewGuid():N}"[..24];
        ConnectionString = new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = _database }.ConnectionString;
        SalesConnectionString = new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = _database.Replace("ledger_", "sales_") }.ConnectionString;
        await GovernanceLedger.Demo.SalesDemoDatabase.EnsureAsync(SalesConnectionString);
        Upstream = await GovernanceLedger.Gateway.DemoUpstream.StartAsync("http://127.0.0.1:0");
        Host = await StartHostAsync(ConnectionString, "Development", Clock, DataPlaneSettings(), ConfigureServices, ExternalTransports);
    }

    /// <summary>Where this run's retired apps are archived.</summary>
    public string ArchiveDirectory => Path.Combine(Path.GetTempPath(), $"ledger-archive-{_database}");

    /// <summary>Whether the anomaly detectors run in this fixture's host.</summary>
    protected virtual bool Detectors => false;

    /// <summary>Whether Wolverine's external transports (Kafka) run in this fixture's host.</summary>
    protected virtual bool ExternalTransports => false;

    /// <summary>Extra services of a fixture's host (the streaming fixture adds its mock Kafka cluster).</summary>
    protected virtual void ConfigureServices(IServiceCollection services) { }

    /// <summary>Stops the host and starts a new one on the same databases, as a redeploy would.</summary>
    public async Task RestartAsync(IDictionary<string, string?>? settings = null)
    {
        await Host.StopAsync();
        await Host.DisposeAsync();
        Host = await StartHostAsync(ConnectionString, "Development", Clock, settings ?? DataPlaneSettings(), ConfigureServices, ExternalTransports);
    }

    /// <summary>The demo gateway routes pointed at this run's upstream, and this run's sales database.</summary>
    public virtual Dictionary<string, string?> DataPlaneSettings() => new()
    {
        // Many tests hammer their apps with refused and failing requests on purpose; detectors run in their own fixture.
        ["Operations:Detectors"] = Detectors ? "true" : "false",
        ["Chargeback:BudgetCheckSeconds"] = "1",
        ["Archive:Directory"] = ArchiveDirectory,
        ["Gateway:Routes:0:Upstream"] = Upstream.Url,
        ["Gateway:Routes:1:Upstream"] = Upstream.Url,
        // A route for the gateway's own tests: header echo, an upstream failure, unmaskable and nested PII.
        ["Gateway:Routes:2:Name"] = "diag",
        ["Gateway:Routes:2:Upstream"] = Upstream.Url,
        ["Gateway:Routes:2:Dataset"] = "contacts",
        ["Gateway:Routes:2:Paths:0:Method"] = "GET", ["Gateway:Routes:2:Paths:0:Pattern"] = "/echo-headers", ["Gateway:Routes:2:Paths:0:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:2:Paths:1:Method"] = "GET", ["Gateway:Routes:2:Paths:1:Pattern"] = "/boom", ["Gateway:Routes:2:Paths:1:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:2:Paths:2:Method"] = "GET", ["Gateway:Routes:2:Paths:2:Pattern"] = "/export", ["Gateway:Routes:2:Paths:2:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:2:Paths:3:Method"] = "GET", ["Gateway:Routes:2:Paths:3:Pattern"] = "/contacts-nested", ["Gateway:Routes:2:Paths:3:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:2:Paths:4:Method"] = "GET", ["Gateway:Routes:2:Paths:4:Pattern"] = "/loud-headers", ["Gateway:Routes:2:Paths:4:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:2:ResponseHeaders:0"] = "X-Total-Count",
        // A route without a dataset: its answers are passed as they are, never masked.
        ["Gateway:Routes:3:Name"] = "plain",
        ["Gateway:Routes:3:Upstream"] = Upstream.Url,
        ["Gateway:Routes:3:Paths:0:Method"] = "GET", ["Gateway:Routes:3:Paths:0:Pattern"] = "/stream", ["Gateway:Routes:3:Paths:0:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:3:Paths:1:Method"] = "GET", ["Gateway:Routes:3:Paths:1:Pattern"] = "/cut-short", ["Gateway:Routes:3:Paths:1:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:3:Paths:2:Method"] = "HEAD", ["Gateway:Routes:3:Paths:2:Pattern"] = "/stream", ["Gateway:Routes:3:Paths:2:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:3:Paths:3:Method"] = "GET", ["Gateway:Routes:3:Paths:3:Pattern"] = "/loud-headers", ["Gateway:Routes:3:Paths:3:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:3:ResponseHeaders:0"] = "X-Total-Count",
        ["Gateway:MaxMaskedResponseBytes"] = "1048576",
        // A route carrying PII in front of an upstream that misbehaves on purpose.
        ["Gateway:Routes:4:Name"] = "raw",
        ["Gateway:Routes:4:Upstream"] = RawUpstream.Url,
        ["Gateway:Routes:4:Dataset"] = "contacts",
        ["Gateway:Routes:4:Paths:0:Method"] = "GET", ["Gateway:Routes:4:Paths:0:Pattern"] = "/cl0-chunked", ["Gateway:Routes:4:Paths:0:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:4:Paths:1:Method"] = "GET", ["Gateway:Routes:4:Paths:1:Pattern"] = "/reset-205", ["Gateway:Routes:4:Paths:1:Scopes:0"] = "read:contacts",
        ["Gateway:Routes:4:Paths:2:Method"] = "GET", ["Gateway:Routes:4:Paths:2:Pattern"] = "/problem-400", ["Gateway:Routes:4:Paths:2:Scopes:0"] = "read:contacts",
        ["Metrics:ScrapeToken"] = ScrapeToken,
        ["Gateway:DemoUpstreamUrl"] = "",
        ["ConnectionStrings:SalesDb"] = SalesConnectionString,
        // Tests run exports when they mean to; the second export would let e-mails leave, and is refused.
        // Beside appsettings.json's two: the cost centres the chargeback tests charge apps to.
        ["Catalog:CostCenterList:2:Id"] = "SALES-1", ["Catalog:CostCenterList:2:Owners:0"] = Scenarios.Owner,
        ["Catalog:CostCenterList:3:Id"] = "FIN-9", ["Catalog:CostCenterList:3:Owners:0"] = "finance.analyst@example.com",
        ["Warehouse:Scheduled"] = "false",
        ["Warehouse:MemoryLimitMegabytes"] = "256",
        ["Warehouse:TempDirectoryMegabytes"] = "256",
        ["Warehouse:Threads"] = "1",
        ["Warehouse:QueryTimeoutSeconds"] = "5",
        ["Warehouse:Exports:1:Name"] = "customers-leaky",
        ["Warehouse:Exports:1:Source"] = "SalesDb",
        ["Warehouse:Exports:1:Dataset"] = "customers",
        ["Warehouse:Exports:1:Target"] = "customers_leaky",
        ["Warehouse:Exports:1:Sql"] = "select customer_id, lower(email) as contact from customers"
    };

    public static async Task<IAlbaHost> StartHostAsync(
        string connectionString, string environment, TimeProvider clock, IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configure = null, bool externalTransports = false)
    {
        JasperFxEnvironment.AutoStartHost = true;
        return await AlbaHost.For<Program>(x =>
        {
            x.UseEnvironment(environment);
            x.UseSetting("ConnectionStrings:Ledger", connectionString);
            // Each host in this process gets a meter of its own: same-named meters are one stream to every host's exporter.
            x.UseSetting("Telemetry:MeterName", $"GovernanceLedger.{Guid.NewGuid():N}");
            foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
                x.UseSetting(key, value);
            x.ConfigureServices(services =>
            {
                services.AddSingleton(clock);
                services.RunWolverineInSoloMode();
                if (!externalTransports) services.DisableAllExternalWolverineTransports();
                // The host's own schemes, counted each time the authentication middleware asks for them.
                services.AddSingleton<Microsoft.AspNetCore.Authentication.IAuthenticationSchemeProvider, CountingSchemeProvider>();
                configure?.Invoke(services);
            });
        });
    }

    public virtual async Task DisposeAsync()
    {
        if (Host is not null)
        {
            await Host.StopAsync();
            await Host.DisposeAsync();
        }
        if (Upstream is not null) await Upstream.DisposeAsync();
        await RawUpstream.DisposeAsync();
        // Development keeps each ledger's key store and witness in directories named after its database.
        foreach (var kind in new[] { "keys", "witness", "warehouse" })
        {
            var directory = GovernanceLedger.Security.KeyCustody.KeyCustodySetup.DevelopmentDirectory(kind, ConnectionString);
            if (_database.Length > 0 && Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        if (_database.Length > 0 && Directory.Exists(ArchiveDirectory)) Directory.Delete(ArchiveDirectory, recursive: true);
        if (_database.Length == 0 || Environment.GetEnvironmentVariable("GOVLEDGER_PG") is null) return;
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = "postgres" }.ConnectionString);
        await connection.OpenAsync();
        foreach (var database in new[] { _database, new NpgsqlConnectionStringBuilder(SalesConnectionString).Database! })
        {
            await using var drop = new NpgsqlCommand($"drop database if exists \"{database}\" with (force)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    public HttpClient Client() => Host.Server.CreateClient();

    /// <summary>Polls until the condition holds (the app directory refreshes four times a second).</summary>
    public Task Eventually(Func<Task<bool>> condition, TimeSpan timeout) => EventuallyAsync(condition, timeout);

    public static Task Eventually(Func<Task<bool>> condition) => EventuallyAsync(condition, null);

    public static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan? timeout)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition did not hold in time.");
            await Task.Delay(25);
        }
    }

    /// <summary>
    /// Data-plane events (access and queries) of an app on the suite clock's day, accesses committed together
    /// (<see cref="AccessesRecorded"/>) given one by one, as the AccessRecorded each of them is.
    /// </summary>
    public Task<IReadOnlyList<object>> AccessEvents(string appId) => AccessEvents(appId, Clock.GetUtcNow());

    public async Task<IReadOnlyList<object>> AccessEvents(string appId, DateTimeOffset day) =>
        (await LedgerAccessEvents(appId, day)).SelectMany(e => e is AccessesRecorded packed ? packed.Accesses : (IEnumerable<object>)[e]).ToList();

    /// <summary>Data-plane events of an app on a day as the ledger holds them.</summary>
    public async Task<IReadOnlyList<object>> LedgerAccessEvents(string appId, DateTimeOffset day)
    {
        var events = new List<JasperFx.Events.IEvent>();
        // One stream per host instance that served the app that day.
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        var streams = new List<string>();
        await using (var command = new NpgsqlCommand("select id from ledger.mt_streams where starts_with(id, $1)", connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = GovernanceLedger.DataPlane.AccessLedger.StreamPrefix(appId, day) });
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) streams.Add(reader.GetString(0));
        }
        foreach (var stream in streams)
            events.AddRange(await StreamOf(stream));
        return events.OrderBy(e => e.Sequence).Select(e => e.Data).ToList();
    }

    /// <summary>A people token from the development issuer.</summary>
    public async Task<string> PersonToken(string sub, params string[] roles) => await PersonToken(new JsonObject
    {
        ["sub"] = sub,
        ["roles"] = new JsonArray(roles.Select(r => (JsonNode?)r).ToArray())
    });

    public async Task<string> PersonToken(JsonObject request)
    {
        var response = await Send(HttpMethod.Post, "/dev/tokens", request.ToJsonString(), null);
        if (response.Status != 200) throw new InvalidOperationException($"dev token refused: {response.Status} {response.Text}");
        return response.Json!["access_token"]!.GetValue<string>();
    }

    public Task<ApiResponse> Post(string path, object? body, string? token) =>
        Send(HttpMethod.Post, path, body is null ? null : body as string ?? System.Text.Json.JsonSerializer.Serialize(body), token);

    public Task<ApiResponse> Get(string path, string? token) => Send(HttpMethod.Get, path, null, token);

    public Task<ApiResponse> Send(HttpMethod method, string path, string? json, string? token) =>
        SendRaw(method, path, json is null ? null : Encoding.UTF8.GetBytes(json), json is null ? null : "application/json", token);

    /// <summary>Any bytes, any content type, any extra headers: what an attacker would send.</summary>
    public async Task<ApiResponse> SendRaw(
        HttpMethod method, string path, byte[]? body, string? contentType, string? token, IDictionary<string, string>? headers = null)
    {
        using var client = Client();
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            if (contentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
            request.Headers.TryAddWithoutValidation(name, value);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        JsonNode? parsed = null;
        try { parsed = text.Length > 0 ? JsonNode.Parse(text) : null; } catch (System.Text.Json.JsonException) { }
        return new ApiResponse((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, text, parsed,
            response.Headers.TryGetValues("X-Request-Id", out var ids) ? ids.First() : null,
            response.Headers.RetryAfter?.Delta?.TotalSeconds);
    }

    /// <summary>Events in the ledger, leaving out the chain's own signed checkpoints, which arrive on their own schedule.</summary>
    public async Task<long> EventCount()
    {
        await using var session = Host.Services.GetRequiredService<IDocumentStore>().QuerySession();
        return await session.Events.QueryAllRawEvents().Where(e => e.StreamKey != "ledger-checkpoints").LongCountAsync();
    }

    /// <summary>Token issuances of the app on the suite clock's current day.</summary>
    public async Task<IReadOnlyList<GovernanceLedger.Contracts.Apps.AppTokenIssued>> TokensIssued(string appId) =>
        (await StreamOf(GovernanceLedger.Apps.IssuingTokens.TokenStreams.For(appId, Clock.GetUtcNow())))
            .Select(e => e.Data).OfType<GovernanceLedger.Contracts.Apps.AppTokenIssued>().ToList();

    public async Task<IReadOnlyList<JasperFx.Events.IEvent>> StreamOf(string appId)
    {
        await using var session = Host.Services.GetRequiredService<IDocumentStore>().QuerySession();
        return await session.Events.FetchStreamAsync(appId);
    }
}

public sealed record ApiResponse(int Status, string? ContentType, string Text, JsonNode? Json, string? RequestId = null, double? RetryAfter = null)
{
    public string Str(string path) => Node(path)?.GetValue<string>() ?? throw new InvalidOperationException($"no '{path}' in {Text}");

    public JsonNode? Node(string path) => path.Split('.').Aggregate(Json, (node, key) =>
        node is null ? null : int.TryParse(key, out var i) ? node[i] : node[key]);

    public override string ToString() => $"{Status} {Text}";
}

[CollectionDefinition(Name)]
public sealed class LedgerCollection : ICollectionFixture<LedgerFixture>
{
    public const string Name = "ledger";
}

/// <summary>The authentication schemes as the host registers them, counting how often the authentication middleware ran.</summary>
public sealed class CountingSchemeProvider(Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Authentication.AuthenticationOptions> options)
    : Microsoft.AspNetCore.Authentication.AuthenticationSchemeProvider(options)
{
    private int _runs;
    public int MiddlewareRuns => Volatile.Read(ref _runs);

    // Only the authentication middleware asks for the request-handler schemes, once per request it sees.
    public override Task<IEnumerable<Microsoft.AspNetCore.Authentication.AuthenticationScheme>> GetRequestHandlerSchemesAsync()
    {
        Interlocked.Increment(ref _runs);
        return base.GetRequestHandlerSchemesAsync();
    }
}
