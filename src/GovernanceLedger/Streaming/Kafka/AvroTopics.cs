using Avro;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;

namespace GovernanceLedger.Streaming.Kafka;

/// <summary>
/// Avro through the schema registry, with automatic registration off: a record is only written when
/// its exact schema is registered under the topic's value subject, so nothing unregistered reaches a topic.
/// </summary>
public sealed class AvroTopics : IDisposable
{
    private readonly CachedSchemaRegistryClient _registry;
    private readonly AvroSerializer<GenericRecord> _serializer;
    private readonly Dictionary<string, (RecordSchema Schema, DateTimeOffset FetchedAt)> _latest = [];
    private readonly Lock _gate = new();
    private static readonly TimeSpan LatestTtl = TimeSpan.FromSeconds(1);

    public AvroTopics(KafkaSettings settings)
    {
        if (string.IsNullOrWhiteSpace(settings.SchemaRegistryUrl))
            throw new InvalidOperationException("Kafka:SchemaRegistryUrl is not set; point it at a Confluent-compatible registry, for example this ledger's /registry.");
        // The latest version is re-read at most every second, so a registered evolution is used within about two seconds.
        _registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = settings.SchemaRegistryUrl, LatestCacheTtlSecs = 1 });
        _serializer = new AvroSerializer<GenericRecord>(_registry, new AvroSerializerConfig { AutoRegisterSchemas = false });
    }

    public ISchemaRegistryClient Registry => _registry;

    public static string ValueSubject(string topic) => $"{topic}-value";

    /// <summary>Confluent wire format (magic byte, schema id, Avro body); throws when the schema is not registered.</summary>
    public Task<byte[]> SerializeAsync(string topic, GenericRecord record) =>
        _serializer.SerializeAsync(record, new SerializationContext(MessageComponentType.Value, topic));

    /// <summary>The newest schema registered for the topic, re-read at most once a second so evolutions are picked up.</summary>
    public async Task<RecordSchema> LatestAsync(string topic)
    {
        lock (_gate)
            if (_latest.TryGetValue(topic, out var cached) && DateTimeOffset.UtcNow - cached.FetchedAt < LatestTtl)
                return cached.Schema;
        var latest = await _registry.GetLatestSchemaAsync(ValueSubject(topic));
        var schema = (RecordSchema)Avro.Schema.Parse(latest.SchemaString);
        lock (_gate) _latest[topic] = (schema, DateTimeOffset.UtcNow);
        return schema;
    }

    public void Dispose()
    {
        _registry.Dispose();
    }
}
