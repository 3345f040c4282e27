using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Streaming.Kafka;
using Marten;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace GovernanceLedger.Streaming.Cdc;

/// <summary>A declared connector with its masking resolved from the dataset's PII tags.</summary>
public sealed record CdcConnectorState(string Id, string SourceDatabase, string SourceConnectionString, string Dataset, string TargetTopic, IReadOnlyList<CdcTable> Tables)
{
    public CdcTable? Table(string name) => Tables.FirstOrDefault(t => t.Table == name);
    /// <summary>Replication slots are per server, not per database: the source database's name is folded in.</summary>
    public string Slot => $"govledger_{Id.Replace('-', '_')}_{SourceHash}";
    private string SourceHash => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
        System.Text.Encoding.UTF8.GetBytes(new NpgsqlConnectionStringBuilder(SourceConnectionString).Database ?? "")))[..8];
    public string Publication => Slot;
    public string DeadLetterTopic => $"{TargetTopic}.dlq";
}

/// <summary>
/// Streams one connector: PostgreSQL logical replication (pgoutput) from a slot and a publication of the
/// allowed tables only, each transaction produced to the curated topic through the registry, then its
/// end LSN stored and confirmed to PostgreSQL. A restart resumes after the stored LSN; a crash between
/// produce and store repeats that transaction, and the key plus source.lsn lets consumers drop it.
/// </summary>
public sealed partial class CdcConnectorWorker(
    CdcConnectorState connector, DateTimeOffset declaredAt, LedgerDatabase ledger, IDocumentStore store, KafkaSettings settings, AvroTopics avro,
    ChangeRecords records, TimeProvider clock, Telemetry.LedgerTelemetry telemetry, ILogger logger) : IDisposable
{
    private const string S = LedgerSetup.Schema;
    public long Published;
    public long Rejected;
    private IProducer<string, byte[]>? _external;
    private readonly Lock _externalGate = new();

    public CdcConnectorState Connector => connector;
    public DateTimeOffset DeclaredAt => declaredAt;

    public void Dispose()
    {
        lock (_externalGate)
        {
            _external?.Flush(TimeSpan.FromSeconds(10));
            _external?.Dispose();
            _external = null;
        }
    }

    /// <summary>Changes that arrive from Kafka Connect rather than from the replication slot.</summary>
    public Task PublishExternalAsync(RowChange change, CancellationToken ct)
    {
        lock (_externalGate)
            _external ??= new ProducerBuilder<string, byte[]>(settings.Producer($"governance-ledger-cdc-{connector.Id}-intake")).Build();
        return PublishAsync(_external, [change], ct);
    }

    /// <summary>The last source position each connector's brokers acknowledged, declared with the ledger's other schema objects.</summary>
    public static Weasel.Postgresql.Tables.Table PositionsTable()
    {
        var table = new Weasel.Postgresql.Tables.Table(LedgerSetup.ObjectName(S, "cdc_positions"));
        table.AddColumn("connector", "text").AsPrimaryKey();
        table.AddColumn("lsn", "text").NotNull();
        table.AddColumn("updated_at", "timestamptz").NotNull().DefaultValueByExpression("now()");
        return table;
    }

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await StreamAsync(stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "CDC connector {Connector} failed; resuming from its stored LSN", connector.Id);
                await Task.Delay(1000, stop).ContinueWith(_ => { }, CancellationToken.None);
            }
        }
    }

    private async Task StreamAsync(CancellationToken stop)
    {
        await PrepareSourceAsync(stop);
        var stored = await StoredLsnAsync(stop);
        using var producer = new ProducerBuilder<string, byte[]>(settings.Producer($"governance-ledger-cdc-{connector.Id}")).Build();
        await using var replication = new LogicalReplicationConnection(connector.SourceConnectionString);
        await replication.Open(stop);
        var slot = new PgOutputReplicationSlot(connector.Slot);
        var options = new PgOutputReplicationOptions(connector.Publication, PgOutputProtocolVersion.V1);
        var pending = new List<RowChange>();
        long? txId = null;
        await foreach (var message in replication.StartReplication(slot, options, stop, stored))
        {
            switch (message)
            {
                case BeginMessage begin:
                    pending.Clear();
                    txId = begin.TransactionXid;
                    break;
                case InsertMessage insert:
                    pending.Add(await ChangeAsync("c", insert.Relation, null, insert.NewRow, message.WalStart, txId, stop));
                    break;
                case FullUpdateMessage update:
                    pending.Add(await ChangeAsync("u", update.Relation, update.OldRow, update.NewRow, message.WalStart, txId, stop));
                    break;
                case IndexUpdateMessage update:
                    pending.Add(await ChangeAsync("u", update.Relation, update.Key, update.NewRow, message.WalStart, txId, stop));
                    break;
                case UpdateMessage update:
                    pending.Add(await ChangeAsync("u", update.Relation, null, update.NewRow, message.WalStart, txId, stop));
                    break;
                case FullDeleteMessage delete:
                    pending.Add(await ChangeAsync("d", delete.Relation, delete.OldRow, null, message.WalStart, txId, stop));
                    break;
                case KeyDeleteMessage delete:
                    pending.Add(await ChangeAsync("d", delete.Relation, delete.Key, null, message.WalStart, txId, stop));
                    break;
                case CommitMessage commit:
                    if (stored is null || commit.TransactionEndLsn > stored.Value)
                    {
                        var committedAt = new DateTimeOffset(DateTime.SpecifyKind(commit.TransactionCommitTimestamp, DateTimeKind.Utc));
                        await PublishAsync(producer, pending.Select(p => p with { CommittedAt = committedAt }).ToList(), stop);
                        await StoreLsnAsync(commit.TransactionEndLsn, stop);
                        stored = commit.TransactionEndLsn;
                    }
                    pending.Clear();
                    replication.SetReplicationStatus(commit.TransactionEndLsn);
                    await replication.SendStatusUpdate(stop);
                    break;
            }
        }
    }

    private async Task PublishAsync(IProducer<string, byte[]> producer, IReadOnlyList<RowChange> changes, CancellationToken ct)
    {
        if (changes.Count == 0) return;
        var envelope = await avro.LatestAsync(connector.TargetTopic);
        var deliveries = new List<Task>(changes.Count);
        var rejections = new List<CdcEventRejected>();
        var now = clock.GetUtcNow();
        foreach (var change in changes)
        {
            var table = connector.Table(change.Table)!;
            var key = ChangeRecords.Key(change, table);
            var (record, rejection) = records.Build(envelope, change, connector, now);
            byte[]? value = null;
            if (record is not null)
            {
                try
                {
                    value = await avro.SerializeAsync(connector.TargetTopic, record);
                }
                catch (Exception e) when (e is Avro.AvroException or Confluent.SchemaRegistry.SchemaRegistryException or InvalidDataException or ArgumentException)
                {
                    rejection = $"the registry refused the record: {e.Message}";
                }
            }
            if (value is not null)
            {
                deliveries.Add(KafkaDelivery.Confirmed(producer.ProduceAsync(connector.TargetTopic, new Message<string, byte[]> { Key = key, Value = value }), connector.TargetTopic));
                continue;
            }
            deliveries.Add(KafkaDelivery.Confirmed(producer.ProduceAsync(connector.DeadLetterTopic, new Message<string, byte[]>
            {
                Key = key,
                Value = JsonSerializer.SerializeToUtf8Bytes(new
                {
                    connector = connector.Id, table = change.Table, op = change.Op, lsn = change.Lsn, reason = rejection,
                    // Dead letters carry the change with PII columns masked, as the curated topic would.
                    before = Masked(change.Before, table), after = Masked(change.After, table)
                }),
                Headers = new Headers { { "rejection", Encoding.UTF8.GetBytes(rejection!) } }
            }), connector.DeadLetterTopic));
            rejections.Add(new CdcEventRejected(connector.Id, change.Table, change.Op, change.Lsn, connector.TargetTopic,
                connector.DeadLetterTopic, rejection!, $"connector:{connector.Id}", now));
        }
        await Task.WhenAll(deliveries);
        if (rejections.Count > 0)
        {
            await using var session = store.LightweightSession();
            session.Events.Append(CdcConnectors.StreamOf(connector.Id), rejections);
            await session.SaveChangesAsync(ct);
        }
        var tag = new KeyValuePair<string, object?>("connector", connector.Id);
        telemetry.CdcChanges.Add(changes.Count - rejections.Count, tag, new("outcome", "published"));
        if (rejections.Count > 0) telemetry.CdcChanges.Add(rejections.Count, tag, new("outcome", "dead_lettered"));
        Interlocked.Add(ref Published, changes.Count - rejections.Count);
        Interlocked.Add(ref Rejected, rejections.Count);
    }

    private Dictionary<string, string?>? Masked(IReadOnlyDictionary<string, string?>? row, CdcTable table) =>
        row?.Where(c => table.Columns.Contains(c.Key)).ToDictionary(c => c.Key, c =>
            c.Value is not null && table.Masking.TryGetValue(c.Key, out var rule)
                ? Convert.ToString(records.Mask(rule, c.Value), System.Globalization.CultureInfo.InvariantCulture)
                : c.Value);

    private static async Task<RowChange> ChangeAsync(string op, RelationMessage relation, ReplicationTuple? before, ReplicationTuple? after,
        NpgsqlLogSequenceNumber lsn, long? txId, CancellationToken ct) =>
        new(relation.Namespace, relation.RelationName, op, await ReadAsync(relation, before, ct), await ReadAsync(relation, after, ct),
            lsn.ToString(), txId, DateTimeOffset.MinValue);

    private static async Task<IReadOnlyDictionary<string, string?>?> ReadAsync(RelationMessage relation, ReplicationTuple? tuple, CancellationToken ct)
    {
        if (tuple is null) return null;
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        var i = 0;
        await foreach (var value in tuple.WithCancellation(ct))
        {
            var column = relation.Columns[i++].ColumnName;
            if (value.IsUnchangedToastedValue) continue;
            values[column] = value.IsDBNull ? null : await value.Get<string>(ct);
        }
        return values;
    }

    private async Task<NpgsqlLogSequenceNumber?> StoredLsnAsync(CancellationToken ct)
    {
        await using var command = ledger.Source.CreateCommand($"select lsn from {S}.cdc_positions where connector = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = connector.Id });
        return await command.ExecuteScalarAsync(ct) is string lsn ? NpgsqlLogSequenceNumber.Parse(lsn) : null;
    }

    private async Task StoreLsnAsync(NpgsqlLogSequenceNumber lsn, CancellationToken ct)
    {
        await using var command = ledger.Source.CreateCommand($"""
            insert into {S}.cdc_positions (connector, lsn) values ($1, $2)
            on conflict (connector) do update set lsn = excluded.lsn, updated_at = now()
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = connector.Id });
        command.Parameters.Add(new NpgsqlParameter { Value = lsn.ToString() });
        await command.ExecuteNonQueryAsync(ct);
    }
}
