using System.Diagnostics;
using System.Text.Json;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Projections.Chargeback;
using JasperFx.Events.Projections;
using Marten;
using Npgsql;

namespace GovernanceLedger.Operations;

/// <summary>A read model's last full build: up to which sequence, and when. A read model without one was never built.</summary>
public sealed class ReadModelBuilt
{
    public string Id { get; set; } = "";
    public long UpToSequence { get; set; }
    public DateTimeOffset BuiltAt { get; set; }
}

public enum RebuildOutcome { Done, RunningHere, RunningElsewhere }

/// <summary>
/// Rebuilds read models blue/green: replays the whole ledger into new read models built beside the live
/// ones (schema ledger_rebuild, the same projections run by Marten's async daemon), then swaps them in
/// at once. People keep reading the live models throughout. One rebuild runs at a time across every
/// instance (an advisory lock on a connection held for the whole rebuild).
/// </summary>
public sealed class ReadModelRebuilder(
    IDocumentStore store, LedgerDatabase ledger, TimeProvider clock, IServiceProvider services, ILogger<ReadModelRebuilder> logger)
{
    public static readonly (string Name, string Projection, Type Document)[] ReadModels =
    [
        ("app catalog", ReadModelNames.Catalog, typeof(AppCatalogEntry)),
        ("usage per app per day", ReadModelNames.Usage, typeof(UsageDay)),
        ("topics", ReadModelNames.Topics, typeof(GovernanceLedger.Projections.Streaming.TopicEntry)),
        ("topic grants", ReadModelNames.TopicGrants, typeof(GovernanceLedger.Projections.Streaming.TopicGrant)),
        ("registry subjects", ReadModelNames.RegistrySubjects, typeof(GovernanceLedger.Projections.Registry.RegistrySubject)),
        ("registry schemas", ReadModelNames.RegistrySchemas, typeof(GovernanceLedger.Projections.Registry.RegisteredSchema)),
        ("registry settings", ReadModelNames.RegistrySettings, typeof(GovernanceLedger.Projections.Registry.RegistrySettings)),
        ("policies", ReadModelNames.Policies, typeof(GovernanceLedger.Projections.Policies.PolicyEntry)),
        ("CDC connectors", ReadModelNames.CdcConnectors, typeof(GovernanceLedger.Projections.Streaming.CdcConnectorEntry)),
        ("budgets", ReadModelNames.Budgets, typeof(GovernanceLedger.Projections.Chargeback.BudgetEntry)),
        ("advisories", ReadModelNames.Advisories, typeof(GovernanceLedger.Projections.SupplyChain.AdvisoryDatabase)),
        ("warehouse exports", ReadModelNames.WarehouseExports, typeof(GovernanceLedger.Projections.Warehouse.WarehouseExportState)),
        ("query templates", ReadModelNames.QueryTemplates, typeof(GovernanceLedger.Projections.Warehouse.QueryTemplate))
    ];

    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>How far the rebuild running in this process is, if one is.</summary>
    public object? Progress { get; private set; }

    /// <summary>Rebuilds the named projections (all when null), reporting each stage; or says where one is already running.</summary>
    public async Task<RebuildOutcome> RunAsync(IReadOnlyCollection<string>? only, Func<object, Task> report, CancellationToken ct)
    {
        if (!await _gate.WaitAsync(0, ct)) return RebuildOutcome.RunningHere;
        try
        {
            await using var lease = await LeaderLease.TryAcquireAsync(ledger, "projection-rebuild", ct);
            if (lease is null) return RebuildOutcome.RunningElsewhere;
            using var leading = CancellationTokenSource.CreateLinkedTokenSource(ct, lease.Lost);
            var models = ReadModels.Where(r => only is null || only.Contains(r.Projection)).ToArray();
            Func<object, Task> reporting = async line => { Progress = line; await report(line); };
            var total = Stopwatch.StartNew();
            if (models.Length > 0) await BuildAsync(models, reporting, leading.Token);
            await RebuildFollowersAsync(only, reporting, leading.Token);
            await reporting(new { stage = "done", seconds = total.Elapsed.TotalSeconds });
            return RebuildOutcome.Done;
        }
        finally
        {
            Progress = null;
            _gate.Release();
        }
    }

    private async Task BuildAsync((string Name, string Projection, Type Document)[] models, Func<object, Task> Report, CancellationToken ct)
    {

        long events;
        await using (var query = store.QuerySession()) events = await query.Events.QueryAllRawEvents().LongCountAsync(ct);
        await Report(new { stage = "start", events_in_ledger = events, projections = models.Select(r => r.Name) });

        // The new read models are built beside the live ones, in a schema of their own, by the same
        // projections run as async ones; people keep reading the live models until the swap.
        var connectionString = ledger.ConnectionString;
        await using IDocumentStore shadow = DocumentStore.For(opts =>
        {
            opts.Connection(connectionString);
            opts.DatabaseSchemaName = ShadowSchema;
            LedgerSetup.ConfigureEvents(opts);
            LedgerSetup.AddReadModels(opts, ProjectionLifecycle.Async);
        });
        using var daemon = await shadow.BuildProjectionDaemonAsync(logger: logger);
        foreach (var (name, projection, document) in models)
        {
            var watch = Stopwatch.StartNew();
            await Report(new { stage = "rebuilding", projection = name, into = shadow.Options.Schema.For(document) });
            await daemon.RebuildProjectionAsync(projection, TimeSpan.FromMinutes(30), ct);
            long documents;
            await using (var connection = await ledger.Source.OpenConnectionAsync(ct))
            await using (var count = new NpgsqlCommand($"select count(*) from {shadow.Options.Schema.For(document)}", connection))
                documents = (long)(await count.ExecuteScalarAsync(ct))!;
            var seconds = watch.Elapsed.TotalSeconds;
            logger.LogInformation("Rebuilt {Projection}: {Documents} documents from {Events} events in {Seconds:0.0} s", name, documents, events, seconds);
            await Report(new { stage = "rebuilt", projection = name, documents, seconds, events_per_second = seconds > 0 ? events / seconds : events });
        }

        // Events kept arriving while the models were rebuilt: the daemon follows them, then the swap holds
        // new appends for the moment it takes to apply the last few and copy the models over.
        // Only the models being rebuilt run: the shadow store knows every projection, but the others' tables
        // there are left from earlier rebuilds and are not swapped.
        await Report(new { stage = "catching-up" });
        foreach (var model in models) await daemon.StartAgentAsync($"{model.Projection}:All", ct);
        await WaitUntilCaughtUpAsync(models, shadow, await HighestSequenceAsync(ct), TimeSpan.FromMinutes(5), ct);
        var swapped = await SwapAsync(models, shadow, ct);
        await daemon.StopAllAsync();
        await using (var session = store.LightweightSession())
        {
            foreach (var model in models)
                session.Store(new ReadModelBuilt { Id = model.Projection, UpToSequence = swapped.Sequence, BuiltAt = clock.GetUtcNow() });
            await session.SaveChangesAsync(ct);
        }
        await Report(new { stage = "swapped", up_to_sequence = swapped.Sequence, appends_held_ms = swapped.HeldMilliseconds });
    }

    /// <summary>
    /// Read models that follow the ledger on the async daemon (the detectors' baselines) are rebuilt in place by
    /// that daemon: their readers are operations, not people, and a rebuild never raises their side effects again.
    /// </summary>
    private async Task RebuildFollowersAsync(IReadOnlyCollection<string>? only, Func<object, Task> report, CancellationToken ct)
    {
        var followers = store.Options.Events.Projections()
            .Where(p => p.Lifecycle == JasperFx.Events.Projections.ProjectionLifecycle.Async && (only is null || only.Contains(p.Name))).ToList();
        if (followers.Count == 0) return;
        var daemon = services.GetRequiredService<Marten.Events.Daemon.Coordination.IProjectionCoordinator>().DaemonForMainDatabase();
        foreach (var projection in followers)
        {
            var watch = Stopwatch.StartNew();
            await report(new { stage = "rebuilding", projection = projection.Name, into = "in place, on the async daemon" });
            await daemon.RebuildProjectionAsync(projection.Name, ct);
            // A rebuild leaves the projection stopped; it follows the ledger again from where the rebuild ended.
            await daemon.StartAgentAsync($"{projection.Name}:All", ct);
            logger.LogInformation("Rebuilt {Projection} on the async daemon in {Seconds:0.0} s", projection.Name, watch.Elapsed.TotalSeconds);
            await report(new { stage = "rebuilt", projection = projection.Name, seconds = watch.Elapsed.TotalSeconds });
        }
    }

    private const string ShadowSchema = "ledger_rebuild";

    private async Task<long> HighestSequenceAsync(CancellationToken ct)
    {
        await using var last = ledger.Source.CreateCommand($"select coalesce(max(seq_id), 0) from {LedgerSetup.Schema}.mt_events");
        return (long)(await last.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Until every model's shard has applied <paramref name="sequence"/>; the live models stay as they are if it does not.</summary>
    private static async Task WaitUntilCaughtUpAsync(
        (string Name, string Projection, Type Document)[] models, IDocumentStore shadow, long sequence, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var shards = (await shadow.Advanced.AllProjectionProgress(token: ct))
                .Where(s => models.Any(r => s.ShardName.StartsWith(r.Projection + ":", StringComparison.Ordinal)))
                .ToList();
            if (shards.Count >= models.Length && shards.All(s => s.Sequence >= sequence)) return;
            if (deadline.Elapsed > timeout)
                throw new TimeoutException(
                    $"The new read models did not reach sequence {sequence} within {timeout.TotalSeconds:0} s (at {string.Join(", ", shards.Select(s => $"{s.ShardName}={s.Sequence}"))}); the live models are unchanged.");
            await Task.Delay(20, ct);
        }
    }

    /// <summary>
    /// In one transaction: hold new appends (readers are never blocked), wait until the new models have
    /// applied every committed event, then replace each live model's rows with the new ones. Readers see
    /// the old models until the commit and the new ones after it, never a partial one.
    /// </summary>
    private async Task<(long Sequence, long HeldMilliseconds)> SwapAsync(
        (string Name, string Projection, Type Document)[] models, IDocumentStore shadow, CancellationToken ct)
    {
        var live = store;
        // A read model nobody has touched yet may have no live table so far.
        foreach (var (_, _, document) in models)
            await live.Storage.Database.EnsureStorageExistsAsync(document, ct);
        await using var connection = await ledger.Source.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var held = Stopwatch.StartNew();
        await using (var lockEvents = new NpgsqlCommand(
            $"set local lock_timeout = '10s'; lock table {LedgerSetup.Schema}.mt_events in exclusive mode", connection, transaction))
            await lockEvents.ExecuteNonQueryAsync(ct);
        long sequence;
        await using (var last = new NpgsqlCommand($"select coalesce(max(seq_id), 0) from {LedgerSetup.Schema}.mt_events", connection, transaction))
            sequence = (long)(await last.ExecuteScalarAsync(ct))!;

        // No transaction can commit an event now, so every sequence at or below this one is final.
        await WaitUntilCaughtUpAsync(models, shadow, sequence, TimeSpan.FromSeconds(30), ct);

        foreach (var (_, _, document) in models)
        {
            var target = live.Options.Schema.For(document);
            var source = shadow.Options.Schema.For(document);
            var columns = await ColumnsAsync(connection, transaction, target, ct);
            await using var copy = new NpgsqlCommand(
                $"delete from {target}; insert into {target} ({columns}) select {columns} from {source}", connection, transaction);
            await copy.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
        return (sequence, held.ElapsedMilliseconds);
    }

    private static async Task<string> ColumnsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string table, CancellationToken ct)
    {
        var (schema, name) = (table.Split('.')[0], table.Split('.')[1]);
        await using var command = new NpgsqlCommand(
            "select string_agg(quote_ident(column_name), ', ' order by ordinal_position) from information_schema.columns where table_schema = @schema and table_name = @name",
            connection, transaction);
        command.Parameters.AddWithValue("schema", schema);
        command.Parameters.AddWithValue("name", name);
        return (string)(await command.ExecuteScalarAsync(ct))!;
    }
}
