using System.Diagnostics;
using System.Text;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.SchemaRegistry.Serdes;
using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Streaming.Kafka;
using GovernanceLedger.Projections.Streaming;
using Marten;

namespace GovernanceLedger.Streaming.Topics;

/// <summary>
/// GET /topics/{topic}/records with an app token: the app's way to read a curated topic. It needs an
/// active grant; it reads in the consumer group derived from its id (offsets committed per app), the
/// Avro records are decoded through the registry, and the read is an access event like any other.
/// </summary>
public sealed class ReadTopic(DataPlaneGuard guard, AccessRecorder recorder, IDocumentStore store, KafkaSettings settings, AvroTopics avro)
{
    public const string Plane = "topics";

    public async Task<IResult> HandleAsync(HttpContext context, string topic, int? max, int? wait_ms)
    {
        var start = Stopwatch.GetTimestamp();
        var (caller, denial) = await guard.AdmitAsync(context, []);
        if (caller is null)
        {
            await recorder.DeniedAsync(context, Plane, topic, denial!, start);
            return AccessRecorder.Refusal(denial!);
        }
        await using (var session = store.QuerySession())
        {
            if (await session.LoadAsync<TopicGrant>(TopicGrant.IdFor(caller.AppId, topic), context.RequestAborted) is not { Active: true })
            {
                var refused = new Denial(403, "topic-grant", $"App '{caller.AppId}' has no {GrantTopic.ScopeOf(topic)} grant.", caller.AppId, null, caller.EndUser, caller.TokenId);
                await recorder.DeniedAsync(context, Plane, topic, refused, start);
                return AccessRecorder.Refusal(refused);
            }
        }
        var limit = Math.Clamp(max ?? 100, 1, 1000);
        var deadline = TimeSpan.FromMilliseconds(Math.Clamp(wait_ms ?? 1000, 0, 10_000));
        var records = new List<object>();
        long bytes = 0;
        var deserializer = new AvroDeserializer<GenericRecord>(avro.Registry);
        using (var consumer = new ConsumerBuilder<string, byte[]>(settings.Consumer(GrantTopic.ConsumerGroupOf(caller.AppId))).Build())
        {
            // Assigning partitions directly (resuming from the group's committed offsets) avoids a group rebalance per read.
            using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
            var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(5)).Topics.Single().Partitions
                .Select(p => new TopicPartition(topic, p.PartitionId)).ToList();
            var committed = consumer.Committed(partitions, TimeSpan.FromSeconds(5));
            consumer.Assign(committed.Select(c => new TopicPartitionOffset(c.TopicPartition, c.Offset == Offset.Unset ? Offset.Beginning : c.Offset)));
            var watch = Stopwatch.StartNew();
            var positions = new Dictionary<TopicPartition, TopicPartitionOffset>();
            while (records.Count < limit && watch.Elapsed < deadline)
            {
                var result = consumer.Consume(deadline - watch.Elapsed);
                if (result is null || result.IsPartitionEOF) continue;
                var value = await deserializer.DeserializeAsync(result.Message.Value, false, new SerializationContext(MessageComponentType.Value, topic));
                records.Add(new { partition = result.Partition.Value, offset = result.Offset.Value, key = result.Message.Key, value = AvroJson.ToPlain(value) });
                bytes += result.Message.Value?.Length ?? 0;
                positions[result.TopicPartition] = new TopicPartitionOffset(result.TopicPartition, result.Offset + 1);
            }
            if (positions.Count > 0) consumer.Commit(positions.Values);
            consumer.Close();
        }
        var body = Results.Json(new { topic, consumer_group = GrantTopic.ConsumerGroupOf(caller.AppId), records }, LedgerSetup.ApiJson);
        await recorder.AllowedAsync(context, Plane, topic, caller, 200, bytes, start, $"read {records.Count} records");
        return body;
    }
}

/// <summary>Avro generic values as plain JSON-friendly objects.</summary>
public static class AvroJson
{
    public static object? ToPlain(object? value) => value switch
    {
        GenericRecord r => r.Schema.Fields.ToDictionary(f => f.Name, f => ToPlain(r[f.Name])),
        byte[] bytes => Convert.ToBase64String(bytes),
        IDictionary<string, object> map => map.ToDictionary(kv => kv.Key, kv => ToPlain(kv.Value)),
        object[] items => items.Select(ToPlain).ToList(),
        _ => value
    };
}
