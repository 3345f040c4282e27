using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using GovernanceLedger.Contracts.Warehouse;
using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Projections.Warehouse;
using Marten;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GovernanceLedger.Warehouse;

/// <summary>How an export run ended, with the event that recorded it.</summary>
public sealed record ExportOutcome(object Event, Problem? Problem);

/// <summary>
/// Runs a curated export: checks its definition against the catalog's PII tags before anything is read, reads the
/// sanitizing SELECT at the source in a read-only snapshot, loads the answer into the warehouse, and makes the new table
/// visible only in the same step as the run's event is committed to the ledger. A refused or failed run is an event too,
/// and leaves the warehouse as it was. One run of an export at a time.
/// </summary>
public sealed class WarehouseExporter(
    IWarehouse warehouse, IOptionsMonitor<WarehouseOptions> options, IOptionsMonitor<DataCatalog> catalog, IConfiguration configuration,
    IDocumentStore store, Masking masking, TimeProvider clock, ILogger<WarehouseExporter> logger)
{
    /// <summary>The purpose of the keyed hash a column computed from PII is stored as.</summary>
    public const string KeyedPurpose = "warehouse-pii";

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _running = new(StringComparer.Ordinal);

    /// <summary>
    /// The column names the catalog tags PII in any dataset at the export's source: read from the same source database or
    /// through the same connector as the dataset the export derives from.
    /// </summary>
    public IReadOnlySet<string> PiiAt(ExportDefinition definition)
    {
        var datasets = catalog.CurrentValue.DatasetList;
        var connector = datasets.FirstOrDefault(d => d.Name == definition.Dataset)?.Connector;
        return datasets.Where(d => d.Source == definition.Source || (connector is not null && d.Connector == connector))
            .SelectMany(d => d.Pii).Select(p => p.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// The tables an export may read: those the catalog describes at the export's source. A table it does not describe has
    /// no PII tags to check against, and a view can rename a PII column, so neither is a source.
    /// </summary>
    public IReadOnlySet<string> TablesAt(ExportDefinition definition) => catalog.CurrentValue.DatasetList
        .Where(d => d.Source == definition.Source).Select(d => d.TableName.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);

    /// <summary>The definition's findings: empty when nothing PII leaves unhashed and only catalog tables are read.</summary>
    public (SqlShape? Shape, IReadOnlyList<string> Findings) Check(ExportDefinition definition)
    {
        var (shape, error) = SqlShape.Parse(definition.Sql);
        var findings = SanitizingCheck.Findings(shape, error, PiiAt(definition)).ToList();
        var tables = TablesAt(definition);
        foreach (var table in shape?.Tables.Except(shape.CteNames).Where(t => !tables.Contains(t.StartsWith("public.", StringComparison.Ordinal) ? t[7..] : t)) ?? [])
            findings.Add($"{table} is not a table the catalog describes at {definition.Source} ({string.Join(", ", tables.Order())}).");
        return (shape, findings);
    }

    /// <summary>
    /// What the source database itself could make of the definition: each table it names must be a base table there (not a
    /// view, which could rename a PII column), and no function outside pg_catalog may be named like a hash, since an
    /// unqualified sha256(text) defined in another schema would be chosen over the built-in sha256(bytea) and could
    /// return its input. Read in the export's own snapshot.
    /// </summary>
    private static async Task<List<string>> SourceFindingsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, SqlShape shape,
        CancellationToken ct)
    {
        var findings = new List<string>();
        await using (var shadows = new NpgsqlCommand(
            "select count(*) from pg_proc where proname = any($1) and pronamespace <> 'pg_catalog'::regnamespace", connection, transaction))
        {
            shadows.Parameters.Add(new NpgsqlParameter { Value = SqlShape.HashFunctions.ToArray() });
            if ((long)(await shadows.ExecuteScalarAsync(ct))! > 0)
                findings.Add($"A function named like a hash ({string.Join(", ", SqlShape.HashFunctions)}) exists outside pg_catalog at the source: the hash cannot be trusted.");
        }
        foreach (var table in shape.Tables.Except(shape.CteNames))
        {
            await using var kind = new NpgsqlCommand("select c.relkind::text from pg_class c where c.oid = to_regclass($1)", connection, transaction);
            kind.Parameters.Add(new NpgsqlParameter { Value = table });
            if (await kind.ExecuteScalarAsync(ct) is not ("r" or "p"))
                findings.Add($"{table} is not a base table at the source (a view or other relation can rename what it reads).");
        }
        return findings;
    }

    private async Task<ExportOutcome> RefuseAsync(ExportDefinition definition, Guid runId, string sha, IReadOnlyList<string> findings, string trigger,
        string actor, CancellationToken ct)
    {
        var refused = new WarehouseExportRefused(definition.Name, runId, sha, findings, trigger, actor, clock.GetUtcNow());
        await AppendAsync(WarehouseExportState.StreamFor(definition.Name), refused, ct);
        return new ExportOutcome(refused, new Problem(StatusCodes.Status422UnprocessableEntity, "https://governance-ledger.dev/problems/validation",
            "The export would let PII leave", "The export was refused before it read anything: " + string.Join(" ", findings),
            findings.Select(f => new Violation("sql", "pii-unhashed", f)).ToList()));
    }

    public async Task<ExportOutcome> RunAsync(ExportDefinition definition, string trigger, string actor, CancellationToken ct)
    {
        var gate = _running.GetOrAdd(definition.Name, _ => new SemaphoreSlim(1, 1));
        if (!await gate.WaitAsync(0, ct))
            return new ExportOutcome(new object(), Problem.Conflict("export-running", $"The export {definition.Name} is running now; try again when it ends."));
        try
        {
            return await RunOnceAsync(definition, trigger, actor, ct);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<ExportOutcome> RunOnceAsync(ExportDefinition definition, string trigger, string actor, CancellationToken ct)
    {
        var (runId, sha) = (Guid.NewGuid(), definition.Sha256());
        var stream = WarehouseExportState.StreamFor(definition.Name);
        var (shape, findings) = Check(definition);
        if (findings.Count > 0) return await RefuseAsync(definition, runId, sha, findings, trigger, actor, ct);

        var started = Stopwatch.GetTimestamp();
        try
        {
            var connectionString = configuration.GetConnectionString(definition.Source)
                ?? throw new InvalidOperationException($"No connection string named {definition.Source}.");
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(ct);
            // One consistent snapshot, and a statement that cannot write whatever it says.
            await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
            // Unqualified names resolve in public alone (pg_catalog first, as always): a schema earlier on the login's search
            // path cannot put its own "customers" in front of the table the catalog describes.
            await using (var readOnly = new NpgsqlCommand(
                $"set transaction read only; set local statement_timeout = '{options.CurrentValue.ExportTimeoutSeconds}s'; set local search_path = public",
                connection, transaction))
                await readOnly.ExecuteNonQueryAsync(ct);
            var atSource = await SourceFindingsAsync(connection, transaction, shape!, ct);
            if (atSource.Count > 0) return await RefuseAsync(definition, runId, sha, atSource, trigger, actor, ct);
            await using var command = new NpgsqlCommand(definition.Sql, connection, transaction);
            await using var reader = await command.ExecuteReaderAsync(ct);
            var columns = Enumerable.Range(0, reader.FieldCount).Select(i => new LoadColumn(reader.GetName(i), reader.GetFieldType(i))).ToList();
            // A column computed from PII passed the check only as a hash; a plain hash of an address is undone by hashing likely
            // addresses, so what is stored is a keyed hash of it.
            var pii = PiiAt(definition);
            var fromPii = shape!.Output.Where(o => o.DerivedFrom.Any(pii.Contains)).Select(o => o.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var keyed = columns.Select(c => fromPii.Contains(c.Name)).ToArray();
            WarehouseExportRan? ran = null;
            await warehouse.ReplaceTableAsync(definition.Target, columns, Rows(reader, keyed, masking, ct), async stats =>
            {
                var derived = shape!.Output.ToDictionary(o => o.Name, StringComparer.OrdinalIgnoreCase);
                ran = new WarehouseExportRan(definition.Name, runId, definition.Source, definition.Dataset,
                    shape.Tables.Except(shape.CteNames).ToList(), options.CurrentValue.Connector, definition.Target, stats.Rows, stats.Bytes,
                    AccessRecorder.Elapsed(started), sha,
                    columns.Select(c => new ExportedColumn(c.Name, stats.ColumnTypes[c.Name], stats.ColumnBytes[c.Name],
                        derived.GetValueOrDefault(c.Name)?.DerivedFrom ?? [], derived.GetValueOrDefault(c.Name)?.Transform, fromPii.Contains(c.Name))).ToList(),
                    trigger, actor, clock.GetUtcNow());
                // The new table is visible only if the run is on the record.
                await AppendAsync(stream, ran, ct);
            }, ct);
            logger.LogInformation("Export {Export} wrote {Rows} rows to {Target}", definition.Name, ran!.Rows, definition.Target);
            return new ExportOutcome(ran, null);
        }
        catch (Exception e) when (e is NpgsqlException or DuckDB.NET.Data.DuckDBException or WarehouseUnavailableException or InvalidOperationException
                                      or InvalidCastException or OverflowException or FormatException)
        {
            logger.LogError(e, "Export {Export} failed", definition.Name);
            // The reason names the class of failure; the source's and the warehouse's own messages stay in the log.
            var reason = e switch
            {
                PostgresException pg => $"The source refused the export's query (SQLSTATE {pg.SqlState}).",
                NpgsqlException => "The source could not be reached.",
                WarehouseUnavailableException => "The warehouse is unavailable on this host.",
                DuckDB.NET.Data.DuckDBException => "The warehouse refused the load.",
                _ => $"The source's answer could not be loaded ({e.GetType().Name})."
            };
            var failed = new WarehouseExportFailed(definition.Name, runId, sha, StrictJson.Bounded(reason, 512), trigger, actor, clock.GetUtcNow());
            await AppendAsync(stream, failed, ct);
            return new ExportOutcome(failed, new Problem(StatusCodes.Status502BadGateway, "https://governance-ledger.dev/problems/export-failed",
                "The export failed", failed.Reason + " The warehouse table is unchanged.", [new Violation("", "export-failed", failed.Reason)]));
        }
    }

    private static async IAsyncEnumerable<object?[]> Rows(NpgsqlDataReader reader, bool[] keyed, Masking masking, [EnumeratorCancellation] CancellationToken ct)
    {
        while (await reader.ReadAsync(ct))
        {
            var values = new object?[reader.FieldCount];
            for (var i = 0; i < values.Length; i++)
            {
                var value = reader.IsDBNull(i) ? null : reader.GetValue(i);
                // Text stays hex text and bytes stay bytes, so the column keeps its type and length.
                values[i] = !keyed[i] ? value : value switch
                {
                    byte[] bytes => masking.Keyed(KeyedPurpose, bytes),
                    string text => Convert.ToHexStringLower(masking.Keyed(KeyedPurpose, System.Text.Encoding.UTF8.GetBytes(text))),
                    null => null,
                    // A number or date computed from a hash (its length, say) says nothing of the value it came from.
                    _ => value
                };
            }
            yield return values;
        }
    }

    private async Task AppendAsync(string stream, object @event, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        session.Events.Append(stream, @event);
        await session.SaveChangesAsync(ct);
    }
}
