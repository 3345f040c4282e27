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
    private readonly Dictionary<string, (RecordSchema Schema, string Text, DateTimeOffset FetchedAt)> _latest = [];
    // Keyed by schema instance (LatestAsync hands out the same instance until the schema changes), weakly, so
    // superseded schemas do not pile up.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<RecordSchema, Dictionary<string, RegisteredWriter>> _writers = new();
    private readonly Lock _gate = new();
    private static readonly TimeSpan LatestTtl = TimeSpan.FromSeconds(1);

    public AvroTopics(KafkaSettings settings)
    {
        if (string.IsNullOrWhiteSpace(settings.SchemaRegistryUrl))
            throw new InvalidOperationException("Kafka:SchemaRegistryUrl is not set; point it at a Confluent-compatible registry, for example this ledger's /registry.");
        // The latest version is re-read at most every second, so a registered evolution is used within about two seconds.
        _registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = settings.SchemaRegistryUrl, LatestCacheTtlSecs = 1 });
    }

    public ISchemaRegistryClient Registry => _registry;

    public static string ValueSubject(string topic) => $"{topic}-value";

    /// <summary>
    /// Confluent wire format (magic byte, big-endian schema id, Avro body). The id comes from the registry's
    /// lookup of this exact schema under the topic's subject, once per schema: an unregistered schema throws,
    /// as Confluent's serializer does with auto-registration off. Writers are cached per schema, so the
    /// per-record cost is the Avro encoding alone.
    /// </summary>
    public async ValueTask<byte[]> SerializeAsync(string topic, GenericRecord record)
    {
        var writer = Writer(topic, record.Schema) ?? await RegisteredWriterAsync(topic, record.Schema);
        return writer.Write(record);
    }

    private RegisteredWriter? Writer(string topic, RecordSchema schema)
    {
        lock (_gate) return _writers.TryGetValue(schema, out var byTopic) && byTopic.TryGetValue(topic, out var writer) ? writer : null;
    }

    private async Task<RegisteredWriter> RegisteredWriterAsync(string topic, RecordSchema schema)
    {
        var id = await _registry.GetSchemaIdAsync(ValueSubject(topic), new Confluent.SchemaRegistry.Schema(schema.ToString(), SchemaType.Avro));
        var writer = new RegisteredWriter(id, schema);
        lock (_gate) _writers.GetOrCreateValue(schema)[topic] = writer;
        return writer;
    }

    private sealed class RegisteredWriter(int id, RecordSchema schema)
    {
        private readonly GenericDatumWriter<GenericRecord> _writer = new(schema);
        private readonly Lock _gate = new();
        private readonly MemoryStream _buffer = new();
        private Avro.IO.BinaryEncoder? _encoder;

        public byte[] Write(GenericRecord record)
        {
            lock (_gate)
            {
                _buffer.SetLength(0);
                _buffer.WriteByte(0);
                _buffer.WriteByte((byte)(id >> 24));
                _buffer.WriteByte((byte)(id >> 16));
                _buffer.WriteByte((byte)(id >> 8));
                _buffer.WriteByte((byte)id);
                _writer.Write(record, _encoder ??= new Avro.IO.BinaryEncoder(_buffer));
                return _buffer.ToArray();
            }
        }
    }

    /// <summary>The newest schema registered for the topic, re-read at most once a second so evolutions are picked up.</summary>
    public async Task<RecordSchema> LatestAsync(string topic)
    {
        lock (_gate)
            if (_latest.TryGetValue(topic, out var cached) && DateTimeOffset.UtcNow - cached.FetchedAt < LatestTtl)
                return cached.Schema;
        var latest = await _registry.GetLatestSchemaAsync(ValueSubject(topic));
        lock (_gate)
        {
            var schema = _latest.TryGetValue(topic, out var known) && known.Text == latest.SchemaString
                ? known.Schema
                : (RecordSchema)Avro.Schema.Parse(latest.SchemaString);
            _latest[topic] = (schema, latest.SchemaString, DateTimeOffset.UtcNow);
            return schema;
        }
    }

    public void Dispose()
    {
        _registry.Dispose();
    }
}
