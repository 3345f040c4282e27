using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using Marten;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GovernanceLedger.Streaming.Cdc;

/// <summary>
/// Finds replication slots and publications named like the ledger's (govledger_...) at every CDC source
/// that no declared connector owns, removes them and records each removal. An object is removed only when
/// two looks at least <see cref="Grace"/> apart both find it orphaned, so a declaration in flight (created
/// at the source, not yet committed) is never taken for an orphan. It polls: the state it checks lives
/// outside the ledger, so no event announces it.
/// </summary>
public sealed class CdcReconciler(
    CdcConnectors connectors, IOptionsMonitor<DataCatalog> catalog, IDocumentStore store, TimeProvider clock,
    ILogger<CdcReconciler> logger) : BackgroundService
{
    public static readonly TimeSpan Grace = TimeSpan.FromMinutes(2);
    public const string StreamId = "cdc-reconciler";
    private readonly Dictionary<(string Source, string Kind, string Name), DateTimeOffset> _suspects = new();
    private readonly OneAtATime _looks = new();

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Grace, clock);
        do
        {
            try
            {
                await ReconcileAsync(stop);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                logger.LogWarning(e, "Reconciling CDC sources failed; trying again later");
            }
        } while (await timer.WaitForNextTickAsync(stop).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result, CancellationToken.None));
    }

    /// <summary>One look at every source; returns what was removed.</summary>
    public Task<IReadOnlyList<CdcOrphanRemoved>> ReconcileAsync(CancellationToken ct) => _looks.RunAsync(LookAsync, ct);

    private async Task<IReadOnlyList<CdcOrphanRemoved>> LookAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var owned = await connectors.DeclaredSlotsAsync(ct);
        var removed = new List<CdcOrphanRemoved>();
        var sources = catalog.CurrentValue.DatasetList.Select(d => d.Source).Where(s => s.Length > 0 && !connectors.IsLedgerDatabase(s)).Distinct();
        foreach (var source in sources)
        {
            if (connectors.ConnectionStringFor(source) is not { } connectionString) continue;
            await using var connection = new NpgsqlConnection(connectionString);
            try
            {
                await connection.OpenAsync(ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
            {
                continue;   // the source database does not exist (yet): nothing there to leave behind
            }
            var found = new List<(string Kind, string Name)>();
            await using (var list = new NpgsqlCommand("""
                select 'slot', slot_name::text from pg_replication_slots where slot_name like 'govledger\_%' and database = current_database() and not active
                union all
                select 'publication', pubname::text from pg_publication where pubname like 'govledger\_%'
                """, connection))
            await using (var reader = await list.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct)) found.Add((reader.GetString(0), reader.GetString(1)));

            foreach (var (kind, name) in found.Where(f => !owned.Contains(f.Name)))
            {
                var key = (source, kind, name);
                if (!_suspects.TryGetValue(key, out var firstSeen)) { _suspects[key] = now; continue; }
                if (now - firstSeen < Grace) continue;
                await using (var drop = new NpgsqlCommand(kind == "slot"
                    ? "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active"
                    : $"drop publication if exists \"{name.Replace("\"", "\"\"")}\"", connection))
                {
                    if (kind == "slot") drop.Parameters.Add(new NpgsqlParameter { Value = name });
                    await drop.ExecuteNonQueryAsync(ct);
                }
                _suspects.Remove(key);
                var record = new CdcOrphanRemoved(source, kind, name, "ledger", now);
                await GovernanceLedger.Apps.AppStream.AppendWithRetryAsync(store, StreamId, record, ct);
                logger.LogWarning("Removed orphaned CDC {Kind} {Name} from {Source}", kind, name, source);
                removed.Add(record);
            }
            // What is no longer there, or is owned again, is no longer suspect.
            foreach (var key in _suspects.Keys.Where(k => k.Source == source && (owned.Contains(k.Name) || !found.Contains((k.Kind, k.Name)))).ToList())
                _suspects.Remove(key);
        }
        return removed;
    }
}
