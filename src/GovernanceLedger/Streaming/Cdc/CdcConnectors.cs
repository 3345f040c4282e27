using System.Collections.Concurrent;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Streaming.Kafka;
using Marten;
using Npgsql;

namespace GovernanceLedger.Streaming.Cdc;

/// <summary>
/// Runs every declared connector. At start-up it reads the declarations from the ledger; a new
/// declaration replaces the running worker of the same id. One instance per ledger runs them
/// (advisory lock), so two hosts never read the same slot.
/// </summary>
public sealed class CdcConnectors(
    IServiceProvider services, IDocumentStore store, LedgerDatabase ledger, IConfiguration configuration,
    IHostApplicationLifetime lifetime, ILogger<CdcConnectors> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, (CdcConnectorWorker Worker, CancellationTokenSource Stop, Task Run)> _running = new();
    private CancellationToken _stopping;
    private volatile bool _leader;

    public static string StreamOf(string connectorId) => $"cdc-connector:{connectorId}";

    /// <summary>The active connector feeding a topic, if one does: such a topic's records come from its source database alone.</summary>
    public static async Task<string?> FeedingAsync(IQuerySession session, string topic, CancellationToken ct) =>
        (await session.Query<GovernanceLedger.Projections.Streaming.CdcConnectorEntry>().Where(c => c.Active).ToListAsync(ct))
            .FirstOrDefault(c => c.Declaration?.TargetTopic == topic)?.ConnectorId;

    public IReadOnlyDictionary<string, CdcConnectorWorker> Running => _running.ToDictionary(r => r.Key, r => r.Value.Worker);

    public string? ConnectionStringFor(string sourceDatabase) => configuration.GetConnectionString(sourceDatabase);

    /// <summary>Whether a named source is the ledger's own database (by name, or by pointing at the same server and database).</summary>
    public bool IsLedgerDatabase(string sourceDatabase)
    {
        if (string.Equals(sourceDatabase, "Ledger", StringComparison.OrdinalIgnoreCase)) return true;
        if (ConnectionStringFor(sourceDatabase) is not { } source || configuration.GetConnectionString("Ledger") is not { } ledgerConnection) return false;
        var (a, b) = (new NpgsqlConnectionStringBuilder(source), new NpgsqlConnectionStringBuilder(ledgerConnection));
        return string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port && string.Equals(a.Database, b.Database, StringComparison.Ordinal);
    }

    // Loops of their own rather than Marten's daemon: they read PostgreSQL logical replication from the data
    // sources, not the ledger's events; the lease only decides which instance holds the replication slots.
    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        _stopping = stop;
        await lifetime.WaitUntilStartedAsync(stop);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var lease = await LeaderLease.TryAcquireAsync(ledger, "cdc-connectors", stop);
                if (lease is null)
                {
                    await Task.Delay(2000, stop);
                    continue;
                }
                _leader = true;
                foreach (var latest in await DeclaredAsync(stop))
                    Start(latest);
                using var leading = CancellationTokenSource.CreateLinkedTokenSource(stop, lease.Lost);
                await Task.Delay(Timeout.Infinite, leading.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (OperationCanceledException)
            {
                // The lease was lost: stop reading the slots here, so that only the new leader does.
                _leader = false;
                logger.LogWarning("Lost the CDC connectors' lease (its database session ended); stopping them here");
                foreach (var id in _running.Keys.ToList())
                    if (_running.TryRemove(id, out var running))
                    {
                        await running.Stop.CancelAsync();
                        await running.Run.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ContinueWith(_ => { }, CancellationToken.None);
                    }
            }
            catch (Exception e)
            {
                logger.LogError(e, "Starting CDC connectors failed; retrying");
                await Task.Delay(2000, stop).ContinueWith(_ => { }, CancellationToken.None);
            }
        }
        await Task.WhenAll(_running.Values.Select(r => r.Run));
    }

    /// <summary>
    /// A Debezium-format change from Kafka Connect, published by the declared connector that allows its
    /// table. Every instance can do this (no replication slot is involved), so the intake does not wait
    /// for the instance that runs the slots; declarations are re-read from the ledger when a table is unknown.
    /// </summary>
    public async Task AcceptExternalAsync(DebeziumChange change, CancellationToken ct)
    {
        var row = DebeziumIntakeHandler.ToRowChange(change)
            ?? throw new InvalidOperationException("The Debezium event has no source.table or an unknown op; it cannot be routed.");
        var worker = Intake(row.Table);
        if (worker is null)
        {
            foreach (var latest in await DeclaredAsync(ct))
                if (!_intake.TryGetValue(latest.ConnectorId, out var known) || known.DeclaredAt != latest.At)
                    Replace(latest);
            worker = Intake(row.Table)
                ?? throw new InvalidOperationException($"No declared CDC connector allows table '{row.Table}'; the change is not published.");
        }
        await worker.PublishExternalAsync(row, ct);
    }

    private readonly ConcurrentDictionary<string, CdcConnectorWorker> _intake = new();

    /// <summary>The latest declaration of every connector that has not been retired since.</summary>
    public async Task<IReadOnlyList<CdcConnectorDeclared>> DeclaredAsync(CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var running = await session.Query<GovernanceLedger.Projections.Streaming.CdcConnectorEntry>().Where(c => c.Active).ToListAsync(ct);
        return running.Select(c => c.Declaration!).OrderBy(d => d.ConnectorId, StringComparer.Ordinal).ToList();
    }

    /// <summary>Stops a connector here and drops its slot and publication at the source, so the source keeps no WAL for it.</summary>
    public async Task RetireAsync(CdcConnectorDeclared declared, CancellationToken ct)
    {
        if (_running.TryRemove(declared.ConnectorId, out var running))
        {
            await running.Stop.CancelAsync();
            await running.Run.WaitAsync(TimeSpan.FromSeconds(10), ct);
        }
        if (_intake.TryRemove(declared.ConnectorId, out var intake)) intake.Dispose();
        await CdcConnectorWorker.DropSourceAsync(State(declared), ct);
        // A later declaration under the same id starts from its own new slot, not from this position.
        await using var forget = ledger.Source.CreateCommand($"delete from {LedgerSetup.Schema}.cdc_positions where connector = $1");
        forget.Parameters.Add(new NpgsqlParameter { Value = declared.ConnectorId });
        await forget.ExecuteNonQueryAsync(ct);
    }

    private void Replace(CdcConnectorDeclared declared)
    {
        var fresh = Worker(State(declared), declared.At);
        if (_intake.TryGetValue(declared.ConnectorId, out var old)) old.Dispose();
        _intake[declared.ConnectorId] = fresh;
    }

    private CdcConnectorWorker? Intake(string table) => _intake.Values.FirstOrDefault(w => w.Connector.Table(table) is not null);

    private CdcConnectorWorker Worker(CdcConnectorState state, DateTimeOffset declaredAt) =>
        new(state, declaredAt, ledger, store, services.GetRequiredService<KafkaSettings>(), services.GetRequiredService<AvroTopics>(),
            services.GetRequiredService<ChangeRecords>(), services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<Telemetry.LedgerTelemetry>(), logger);

    /// <summary>
    /// Creates the connector's publication and slot now, so every change committed after the declaration
    /// is captured even before a worker runs; a new slot first publishes the rows already there (snapshot).
    /// Fails (and nothing is declared) when the source refuses. Returns the snapshot's row count.
    /// </summary>
    public async Task<long> PrepareAsync(CdcConnectorDeclared declared, CancellationToken ct)
    {
        using var worker = Worker(State(declared), declared.At);
        return await worker.PrepareSourceAsync(ct);
    }

    /// <summary>Whether the connector's slot or publication is already at the source (a re-declaration keeps them).</summary>
    public async Task<bool> HasSourceObjectsAsync(CdcConnectorDeclared declared, CancellationToken ct)
    {
        var state = State(declared);
        await using var source = new NpgsqlConnection(state.SourceConnectionString);
        await source.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            "select exists (select 1 from pg_replication_slots where slot_name = $1) or exists (select 1 from pg_publication where pubname = $1)", source)
            { Parameters = { new() { Value = state.Slot } } };
        return await command.ExecuteScalarAsync(ct) is true;
    }

    /// <summary>
    /// Key columns the source's tables do not have, as "table.column". Other allowed columns may be dataset fields
    /// the table does not have yet (they flow once a compatible column is added); a key must exist to key records.
    /// </summary>
    public async Task<IReadOnlyList<string>> MissingColumnsAsync(string sourceDatabase, IReadOnlyList<CdcTable> tables, CancellationToken ct)
    {
        await using var source = new NpgsqlConnection(ConnectionStringFor(sourceDatabase));
        await source.OpenAsync(ct);
        var missing = new List<string>();
        foreach (var table in tables)
        {
            await using var command = new NpgsqlCommand(
                "select column_name::text from information_schema.columns where table_schema = 'public' and table_name = $1", source)
                { Parameters = { new() { Value = table.Table } } };
            var present = new HashSet<string>(StringComparer.Ordinal);
            await using (var reader = await command.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct)) present.Add(reader.GetString(0));
            missing.AddRange(table.Key.Where(c => !present.Contains(c)).Select(c => $"{table.Table}.{c}"));
        }
        return missing;
    }

    /// <summary>Drops what a failed declaration created at the source, so nothing holds WAL without a ledger event.</summary>
    public Task UndoAsync(CdcConnectorDeclared declared, CancellationToken ct) => CdcConnectorWorker.DropSourceAsync(State(declared), ct);

    /// <summary>The slot (and publication) names of every connector the ledger holds as declared and not retired.</summary>
    public async Task<IReadOnlySet<string>> DeclaredSlotsAsync(CancellationToken ct) =>
        (await DeclaredAsync(ct)).Where(d => ConnectionStringFor(d.SourceDatabase) is not null).Select(d => State(d).Slot).ToHashSet(StringComparer.Ordinal);

    private CdcConnectorState State(CdcConnectorDeclared declared) =>
        new(declared.ConnectorId, declared.SourceDatabase,
            ConnectionStringFor(declared.SourceDatabase) ?? throw new InvalidOperationException($"ConnectionStrings:{declared.SourceDatabase} is not set."),
            declared.Dataset, declared.TargetTopic, declared.Tables);

    /// <summary>Starts (or restarts with the new declaration) one connector, if this instance runs connectors.</summary>
    public void Start(CdcConnectorDeclared declared)
    {
        Replace(declared);
        if (!_leader) return;
        var state = State(declared);
        var worker = Worker(state, declared.At);
        if (_running.TryRemove(declared.ConnectorId, out var previous))
        {
            previous.Stop.Cancel();
            previous.Run.Wait(TimeSpan.FromSeconds(10));
        }
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
        _running[declared.ConnectorId] = (worker, cancel, Task.Run(() => worker.RunAsync(cancel.Token)));
        logger.LogInformation("CDC connector {Connector} streams {Tables} to {Topic}", state.Id, string.Join(", ", state.Tables.Select(t => t.Table)), state.TargetTopic);
    }
}
