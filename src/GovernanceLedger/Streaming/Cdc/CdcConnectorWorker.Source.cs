using System.Text.Json;
using Confluent.Kafka;
using Npgsql;
using Npgsql.Replication;

namespace GovernanceLedger.Streaming.Cdc;

/// <summary>The connector's footprint at the source: its publication, its slot, and the initial snapshot taken with the slot.</summary>
public sealed partial class CdcConnectorWorker
{
    private const int SnapshotBatch = 1000;

    /// <summary>
    /// A publication of exactly the allowed tables, and the connector's slot; both survive restarts. When the
    /// slot is new, the rows already in the tables are published first as snapshot reads (op "r"), read in the
    /// snapshot the slot was created with: nothing is missed between the snapshot and the first streamed change.
    /// Returns how many rows the snapshot published.
    /// </summary>
    public async Task<long> PrepareSourceAsync(CancellationToken ct)
    {
        await using var source = new NpgsqlConnection(connector.SourceConnectionString);
        await source.OpenAsync(ct);
        var tables = string.Join(", ", connector.Tables.Select(t => Quote(t.Table)));
        await using (var exists = new NpgsqlCommand("select 1 from pg_publication where pubname = $1", source) { Parameters = { new() { Value = connector.Publication } } })
        {
            var sql = await exists.ExecuteScalarAsync(ct) is null
                ? $"create publication {connector.Publication} for table {tables}"
                : $"alter publication {connector.Publication} set table {tables}";
            await using var publication = new NpgsqlCommand(sql, source);
            await publication.ExecuteNonQueryAsync(ct);
        }
        await using var slot = new NpgsqlCommand("select 1 from pg_replication_slots where slot_name = $1", source) { Parameters = { new() { Value = connector.Slot } } };
        if (await slot.ExecuteScalarAsync(ct) is not null) return 0;

        // The exported snapshot lives while the replication connection that created the slot stays open and idle.
        await using var replication = new LogicalReplicationConnection(connector.SourceConnectionString);
        await replication.Open(ct);
        var created = await replication.CreatePgOutputReplicationSlot(connector.Slot, slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct);
        return await SnapshotAsync(source, created.SnapshotName!, created.ConsistentPoint.ToString(), ct);
    }

    private async Task<long> SnapshotAsync(NpgsqlConnection source, string snapshot, string lsn, CancellationToken ct)
    {
        await using var transaction = await source.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await using (var use = new NpgsqlCommand($"set transaction snapshot '{snapshot.Replace("'", "''")}'", source, transaction))
            await use.ExecuteNonQueryAsync(ct);
        using var producer = new ProducerBuilder<string, byte[]>(settings.Producer($"governance-ledger-cdc-{connector.Id}-snapshot")).Build();
        var committedAt = clock.GetUtcNow();
        long rows = 0;
        foreach (var table in connector.Tables)
        {
            var batch = new List<RowChange>(SnapshotBatch);
            var schemaName = table.Table.Contains('.') ? table.Table.Split('.')[0] : "public";
            var tableName = table.Table.Split('.')[^1];
            // to_jsonb keeps every column, whatever its type; only allowed columns are read from it.
            await using (var read = new NpgsqlCommand($"select to_jsonb(t)::text from {Quote(table.Table)} t", source, transaction))
            await using (var reader = await read.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct))
                {
                    using var row = JsonDocument.Parse(reader.GetString(0));
                    var values = row.RootElement.EnumerateObject().Where(c => table.Columns.Contains(c.Name) || table.Key.Contains(c.Name))
                        .ToDictionary(c => c.Name, c => ChangeRecords.Text(c.Value));
                    batch.Add(new RowChange(schemaName, tableName, "r", null, values, lsn, null, committedAt));
                    if (batch.Count == SnapshotBatch)
                    {
                        await PublishAsync(producer, batch, ct);
                        rows += batch.Count;
                        batch.Clear();
                    }
                }
            await PublishAsync(producer, batch, ct);
            rows += batch.Count;
        }
        await transaction.CommitAsync(ct);
        logger.LogInformation("CDC connector {Connector} published a snapshot of {Rows} rows at {Lsn}", connector.Id, rows, lsn);
        return rows;
    }

    /// <summary>Drops the slot (waiting briefly if a stopping worker still holds it) and the publication.</summary>
    public static async Task DropSourceAsync(CdcConnectorState connector, CancellationToken ct)
    {
        await using var source = new NpgsqlConnection(connector.SourceConnectionString);
        await source.OpenAsync(ct);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var drop = new NpgsqlCommand(
                    "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1", source)
                    { Parameters = { new() { Value = connector.Slot } } };
                await drop.ExecuteNonQueryAsync(ct);
                break;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 20)
            {
                await Task.Delay(250, ct);
            }
        }
        await using var publication = new NpgsqlCommand($"drop publication if exists {connector.Publication}", source);
        await publication.ExecuteNonQueryAsync(ct);
    }


    private static string Quote(string table) => string.Join(".", table.Split('.').Select(p => "\"" + p.Replace("\"", "\"\"") + "\""));
}
