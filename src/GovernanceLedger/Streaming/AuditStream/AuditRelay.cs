using System.Diagnostics;
using System.Text.Json;
using Avro;
using Avro.Generic;
using Confluent.Kafka;
using GovernanceLedger.Chargeback;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Streaming.Kafka;
using Marten;
using Npgsql;

namespace GovernanceLedger.Streaming.AuditStream;

/// <summary>
/// Publishes the ledger to Kafka in ledger order: every chained event to the audit topic (keyed by app),
/// and, in the same acknowledged batch, the priced line <see cref="ChargebackLines"/> makes of every
/// billable access or query to the chargeback topic. It follows the hash
/// chain, so it only sees the gap-free, committed prefix of the sequence, and it stores its position
/// only after the brokers acknowledged the batch: a restart resumes without a gap (at worst it repeats
/// the last unacknowledged batch; `sequence` lets consumers drop repeats).
/// </summary>
public sealed class AuditRelay(
    LedgerDatabase ledger, IDocumentStore store, KafkaSettings settings, AvroTopics avro, TimeProvider clock,
    IHostApplicationLifetime lifetime, Telemetry.LedgerTelemetry telemetry, ILogger<AuditRelay> logger) : BackgroundService
{
    public const int BatchSize = 2000;
    private const string S = LedgerSetup.Schema;
    private const string RelayName = "audit-relay";
    private RecordSchema? _audit;
    private RecordSchema? _chargeback;
    private readonly ChargebackLines _lines = new(store, clock);
    private long _published;

    /// <summary>The last ledger sequence the brokers acknowledged.</summary>
    public long Published => Volatile.Read(ref _published);


    /// <summary>Where each relay got to, declared with the ledger's other schema objects.</summary>
    public static Weasel.Postgresql.Tables.Table PositionsTable()
    {
        var table = new Weasel.Postgresql.Tables.Table(LedgerSetup.ObjectName(S, "stream_relays"));
        table.AddColumn("name", "text").AsPrimaryKey();
        table.AddColumn<long>("position").NotNull();
        table.AddColumn("updated_at", "timestamptz").NotNull().DefaultValueByExpression("now()");
        return table;
    }

    // A loop of its own rather than a Marten subscription: it publishes each event with its chain link, so it
    // follows the chain (which trails the appends), not the event store's high-water mark.
    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        // The registry may be this very host: wait until it serves requests.
        await lifetime.WaitUntilStartedAsync(stop);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                // A fresh producer after any failure: an idempotent producer's fatal errors are not recoverable in place.
                using var producer = new ProducerBuilder<string, byte[]>(settings.Producer("governance-ledger-audit")).Build();
                // One relay per ledger: the instance holding the lease publishes.
                await using var lease = await LeaderLease.TryAcquireAsync(ledger, "audit-relay", stop);
                if (lease is null)
                {
                    await Task.Delay(2000, stop);
                    continue;
                }
                using var leading = CancellationTokenSource.CreateLinkedTokenSource(stop, lease.Lost);
                _audit ??= await avro.LatestAsync(settings.AuditTopic);
                _chargeback ??= await avro.LatestAsync(settings.ChargebackTopic);
                var position = await PositionAsync(leading.Token);
                Volatile.Write(ref _published, position);
                while (!leading.IsCancellationRequested)
                {
                    var sent = await PublishNextAsync(producer, position, leading.Token);
                    if (sent.Count == 0)
                    {
                        await Task.Delay(20, leading.Token);
                        continue;
                    }
                    position = sent.Last;
                    await SavePositionAsync(position, leading.Token);
                    Volatile.Write(ref _published, position);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException)
            {
                // The lease was lost: whoever holds it now resumes from the last acknowledged position.
                logger.LogWarning("Lost the audit relay's lease (its database session ended); trying to take it again");
            }
            catch (Exception e)
            {
                logger.LogError(e, "Publishing the audit stream failed; retrying from the last acknowledged position");
                await Task.Delay(1000, stop).ContinueWith(_ => { }, CancellationToken.None);
            }
        }
    }

    private async Task<(int Count, long Last)> PublishNextAsync(IProducer<string, byte[]> producer, long after, CancellationToken ct)
    {
        var rows = new List<LedgerRow>();
        await using (var command = ledger.Source.CreateCommand($"""
            select e.seq_id, e.stream_id, e.version, e.type, e.timestamp, e.correlation_id, e.causation_id, e.data::text, c.link
            from {S}.chain_links c join {S}.mt_events e on e.seq_id = c.seq_id
            where c.seq_id > $1 order by c.seq_id limit {BatchSize}
            """))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = after });
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                rows.Add(new LedgerRow(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3),
                    reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                    reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetString(7), Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(8))));
        }
        if (rows.Count == 0) return (0, after);

        await _lines.RefreshRateCardsAsync(ct);
        // Produce in sequence order and await the whole batch: with an idempotent producer the brokers
        // keep that order per partition through retries, and nothing is acknowledged out of turn.
        var deliveries = new List<Task>(rows.Count * 2);
        foreach (var row in rows)
        {
            using var document = JsonDocument.Parse(row.Data);
            var fields = document.RootElement;
            var appId = Text(fields, "AppId");
            var key = appId ?? row.StreamId;
            deliveries.Add(ProduceAsync(producer, settings.AuditTopic, key, await avro.SerializeAsync(settings.AuditTopic, Envelope(row, fields, appId))));
            if (_lines.For(row.Sequence, row.Type, row.Timestamp, fields, _chargeback!) is { } line)
                deliveries.Add(ProduceAsync(producer, settings.ChargebackTopic, line.AppId, await avro.SerializeAsync(settings.ChargebackTopic, line.Record)));
        }
        await Task.WhenAll(deliveries);
        // Lag is wall-clock business: append time comes from PostgreSQL, whatever the ledger's own clock says.
        var now = TimeProvider.System.GetUtcNow();
        telemetry.AuditStreamEvents.Add(rows.Count);
        foreach (var row in rows) telemetry.AuditStreamLag.Record((now - row.Timestamp).TotalMilliseconds);
        return (rows.Count, rows[^1].Sequence);
    }

    /// <summary>Publishes one message; done only once the broker holds it at an offset (<see cref="KafkaDelivery"/>).</summary>
    private static Task ProduceAsync(IProducer<string, byte[]> producer, string topic, string key, byte[] value) =>
        KafkaDelivery.Confirmed(producer.ProduceAsync(topic, new Message<string, byte[]> { Key = key, Value = value }), topic);

    private GenericRecord Envelope(LedgerRow row, JsonElement fields, string? appId)
    {
        var record = new GenericRecord(_audit!);
        record.Add("sequence", row.Sequence);
        record.Add("stream_id", row.StreamId);
        record.Add("stream_version", row.Version);
        record.Add("event_type", row.Type);
        record.Add("app_id", appId);
        record.Add("actor", Text(fields, "Actor") ?? (appId is null ? null : $"app:{appId}"));
        record.Add("occurred_at", Micros(row.Timestamp));
        record.Add("correlation_id", row.CorrelationId);
        record.Add("causation_id", row.CausationId);
        record.Add("data", row.Data);
        record.Add("chain_link", row.Link);
        return record;
    }

    private async Task<long> PositionAsync(CancellationToken ct)
    {
        await using var command = ledger.Source.CreateCommand($"select position from {S}.stream_relays where name = '{RelayName}'");
        return await command.ExecuteScalarAsync(ct) is long position ? position : 0;
    }

    private async Task SavePositionAsync(long position, CancellationToken ct)
    {
        await using var command = ledger.Source.CreateCommand($"""
            insert into {S}.stream_relays (name, position) values ('{RelayName}', $1)
            on conflict (name) do update set position = excluded.position, updated_at = now()
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = position });
        await command.ExecuteNonQueryAsync(ct);
    }

    private static string? Text(JsonElement fields, string name) =>
        fields.ValueKind == JsonValueKind.Object && fields.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>Avro's timestamp-micros logical type takes a UTC DateTime.</summary>
    private static DateTime Micros(DateTimeOffset at) => at.UtcDateTime;

    private sealed record LedgerRow(long Sequence, string StreamId, long Version, string Type, DateTimeOffset Timestamp,
        string? CorrelationId, string? CausationId, string Data, string Link);
}
