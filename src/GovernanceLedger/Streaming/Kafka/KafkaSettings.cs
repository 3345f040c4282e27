using Confluent.Kafka;

namespace GovernanceLedger.Streaming.Kafka;

/// <summary>
/// Where Kafka is. Off: no streaming. Embedded: librdkafka's in-memory mock cluster started by this
/// process (development only, not durable). Cluster: real brokers at BootstrapServers.
/// </summary>
public sealed class KafkaSettings
{
    public const string Section = "Kafka";

    public string Mode { get; set; } = KafkaModes.Off;
    public string BootstrapServers { get; set; } = "";
    /// <summary>Any Confluent-compatible registry; by default this ledger's own /registry.</summary>
    public string SchemaRegistryUrl { get; set; } = "";
    public string AuditTopic { get; set; } = "governance.audit.v1";
    public string ChargebackTopic { get; set; } = "chargeback.v1";
    public int LedgerTopicPartitions { get; set; } = 3;
    /// <summary>Raw Debezium-format change events from Kafka Connect, if a team already runs it.</summary>
    public string DebeziumTopic { get; set; } = "";
    public TopicPolicySettings TopicPolicy { get; set; } = new();

    /// <summary>
    /// Produce requests in flight per broker connection; librdkafka's default (5) when unset, except in the embedded mode.
    /// librdkafka's mock cluster acknowledges a retried request once a later one succeeds without checking idempotent
    /// sequence numbers (a real broker refuses the later one), so a message it never stored can be overtaken by the next
    /// ones and come back only when the relay publishes its batch again, out of order. With one request in flight nothing
    /// overtakes a retry. The embedded mode sets 1; a suite or a development setup on the mock cluster sets it too.
    /// </summary>
    public int? MaxInFlight { get; set; }

    public bool Enabled => Mode != KafkaModes.Off;

    public ProducerConfig Producer(string clientId) => new()
    {
        BootstrapServers = BootstrapServers,
        ClientId = clientId,
        // Idempotence keeps per-partition order through retries and broker errors, without duplicates.
        EnableIdempotence = true,
        Acks = Acks.All,
        LingerMs = 2,
        MessageTimeoutMs = 120_000,
        MaxInFlight = MaxInFlight ?? (Mode == KafkaModes.Embedded ? 1 : null)
    };

    public ConsumerConfig Consumer(string groupId) => new()
    {
        BootstrapServers = BootstrapServers,
        GroupId = groupId,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        EnableAutoCommit = false
    };
}

public static class KafkaModes
{
    public const string Off = "off";
    public const string Embedded = "embedded";
    public const string Cluster = "cluster";
}

/// <summary>The product's topic policy: which curated topics may exist, and their limits.</summary>
public sealed class TopicPolicySettings
{
    public List<string> AllowedTopics { get; set; } = [];
    public int MaxPartitions { get; set; } = 10;
    public int RetentionDays { get; set; } = 7;
}
