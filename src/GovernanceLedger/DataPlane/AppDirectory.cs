using System.Collections.Concurrent;
using System.Text.Json;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Catalog;
using Npgsql;

namespace GovernanceLedger.DataPlane;

/// <summary>What the data plane needs to know about an app on every request, held in memory.</summary>
public sealed record AppSnapshot(
    string AppId, string Status, string Owner, DateTimeOffset? ExpiresAt, IReadOnlyList<string> Scopes, AppQuotas Quotas,
    IReadOnlyList<DatasetRequest> Datasets, int? ThrottleRequestsPerSecond = null, DateTimeOffset? ThrottledUntil = null)
{
    public bool IsActiveAt(DateTimeOffset now) => Status == AppStatus.Active && (ExpiresAt is null || now < ExpiresAt);

    public bool IsThrottledAt(DateTimeOffset now) => ThrottleRequestsPerSecond is not null && ThrottledUntil is { } until && now < until;

    /// <summary>The app's per-second rate now: its quota, or a detector's throttle while that holds.</summary>
    public int RequestsPerSecondAt(DateTimeOffset now) =>
        IsThrottledAt(now) ? Math.Min(ThrottleRequestsPerSecond!.Value, Quotas.EffectiveRequestsPerSecond) : Quotas.EffectiveRequestsPerSecond;
}

/// <summary>
/// A local cache of app status fed by the catalog projection: it polls for rows changed since the
/// last look (four times a second), so a pause or retirement reaches every request within a second
/// without a database read per request. Until the first load completes, every app is unknown:
/// the data plane fails closed.
/// </summary>
public sealed class AppDirectory : BackgroundService
{
    private readonly LedgerDatabase ledger;
    private readonly ILogger<AppDirectory> logger;

    public AppDirectory(LedgerDatabase ledger, ILogger<AppDirectory> logger, Telemetry.LedgerTelemetry telemetry, TimeProvider clock)
    {
        (this.ledger, this.logger) = (ledger, logger);
        telemetry.ObserveThrottles(() => _apps.Values.Where(a => a.IsThrottledAt(clock.GetUtcNow()))
            .Select(a => new System.Diagnostics.Metrics.Measurement<int>(a.RequestsPerSecondAt(clock.GetUtcNow()), new KeyValuePair<string, object?>("app_id", a.AppId))));
    }

    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);
    // mt_last_modified is the writing transaction's start time, so look back a little to catch slow commits.
    private static readonly TimeSpan Overlap = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, AppSnapshot> _apps = new(StringComparer.Ordinal);
    private DateTimeOffset _since = DateTimeOffset.MinValue;

    public AppSnapshot? Find(string appId) => _apps.GetValueOrDefault(appId);

    public bool Loaded { get; private set; }

    // A poll of its own rather than a Marten subscription: every instance needs its own copy in memory, while
    // the daemon runs a subscription on one leader only.
    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        var source = ledger.Source;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(source, stop);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                // Keep serving the last known state; the next poll tries again.
                logger.LogWarning(e, "Could not refresh the app directory");
            }
            await Task.Delay(PollInterval, stop).ContinueWith(_ => { }, CancellationToken.None);
        }
    }

    /// <summary>
    /// The app, from memory; an app not there yet (registered since the last poll) is read once from the catalog, so
    /// an app is served from the moment its registration commits. Only a validly signed token for the app gets here,
    /// and tokens are issued for registered apps only, so a miss costs one read, not a flood.
    /// </summary>
    public async Task<AppSnapshot?> FindAsync(string appId, CancellationToken ct)
    {
        if (Find(appId) is { } known) return known;
        try
        {
            await using var command = ledger.Source.CreateCommand($"select data from {LedgerSetup.Schema}.mt_doc_appcatalogentry where id = @id");
            command.Parameters.AddWithValue("id", appId);
            if (await command.ExecuteScalarAsync(ct) is not string json) return null;
            var entry = JsonSerializer.Deserialize<AppCatalogEntry>(json)!;
            // The poll may have brought a newer state meanwhile: it wins.
            return _apps.GetOrAdd(entry.Id, _ => Snapshot(entry));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return null;
        }
    }

    private static AppSnapshot Snapshot(AppCatalogEntry entry) =>
        new(entry.Id, entry.Status, entry.Owner, entry.ExpiresAt, entry.Scopes, entry.Quotas, entry.Datasets,
            entry.ThrottleRequestsPerSecond, entry.ThrottledUntil);

    public async Task RefreshAsync(NpgsqlDataSource source, CancellationToken ct)
    {
        await using var command = source.CreateCommand(
            $"select data, now() from {LedgerSetup.Schema}.mt_doc_appcatalogentry where mt_last_modified > @since");
        command.Parameters.AddWithValue("since", _since == DateTimeOffset.MinValue ? DateTimeOffset.UnixEpoch : _since - Overlap);
        DateTimeOffset? dbNow = null;
        try
        {
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var entry = JsonSerializer.Deserialize<AppCatalogEntry>(reader.GetString(0))!;
                _apps[entry.Id] = Snapshot(entry);
                dbNow = reader.GetFieldValue<DateTimeOffset>(1);
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // No app has been registered yet, so the table does not exist: nothing to know.
        }
        if (dbNow is { } now) _since = now;
        else if (_since == DateTimeOffset.MinValue) _since = DateTimeOffset.UnixEpoch.AddSeconds(1);
        Loaded = true;
    }
}
