namespace GovernanceLedger.Contracts.Streaming;

/// <summary>A schema version was registered under a registry subject. Ids are global: one id per distinct schema.</summary>
public sealed record SchemaRegistered(
    string Subject, int Version, int SchemaId, string SchemaType, string Schema, string Fingerprint,
    string Compatibility, string Actor, DateTimeOffset At);

/// <summary>A registration was refused because the schema is not compatible with what the subject already holds.</summary>
public sealed record SchemaRejected(
    string Subject, string Compatibility, string Reason, string Fingerprint, string Actor, DateTimeOffset At);

/// <summary>The compatibility rule of one subject (or of the registry, Subject = null) was set.</summary>
public sealed record SchemaCompatibilitySet(string? Subject, string Compatibility, string Actor, DateTimeOffset At);

/// <summary>A team asked for a Kafka topic; the policy decision follows as TopicProvisioned or TopicRequestDenied.</summary>
public sealed record TopicRequested(
    string Topic, int Partitions, int RetentionDays, string Owner, string Purpose, string Actor, DateTimeOffset At);

public sealed record TopicRequestDenied(
    string Topic, string PolicyId, int PolicyVersion, IReadOnlyList<string> Reasons, string Actor, DateTimeOffset At);

/// <summary>The topic exists on the cluster with these settings.</summary>
public sealed record TopicProvisioned(
    string Topic, int Partitions, int RetentionDays, string Cluster, string PolicyId, int PolicyVersion, string Actor, DateTimeOffset At);

/// <summary>The topic's owner or a platform admin asked to change a provisioned topic's settings.</summary>
public sealed record TopicChangeRequested(string Topic, int Partitions, int RetentionDays, string Reason, string Actor, DateTimeOffset At);

/// <summary>A provisioned topic now has these settings on the cluster.</summary>
public sealed record TopicChanged(
    string Topic, int Partitions, int RetentionDays, string Cluster, string PolicyId, int PolicyVersion, string Actor, DateTimeOffset At);

/// <summary>
/// An app may read a curated topic, in the consumer group derived from its id, or (<see cref="Access"/> write)
/// produce to it through the ledger. Grants recorded before writes existed have no access: they are reads.
/// </summary>
public sealed record TopicAccessGranted(string AppId, string Topic, string ConsumerGroup, string Reason, string Actor, DateTimeOffset At,
    string? Access = null);

/// <summary>Ends the app's read grant on the topic, or its write grant (<see cref="Access"/> write).</summary>
public sealed record TopicAccessRevoked(string AppId, string Topic, string Reason, string Actor, DateTimeOffset At, string? Access = null);

/// <summary>What a topic grant allows.</summary>
public static class TopicAccess
{
    public const string Read = "read";
    public const string Write = "write";
    public static readonly string[] All = [Read, Write];

    /// <summary>Grants recorded without an access are reads.</summary>
    public static string Of(string? access) => access ?? Read;
}

/// <summary>A change-data-capture connector: which tables and columns of which source flow to which curated topic.</summary>
public sealed record CdcConnectorDeclared(
    string ConnectorId, string SourceDatabase, string Dataset, string TargetTopic,
    IReadOnlyList<CdcTable> Tables, string Actor, DateTimeOffset At);

/// <summary>An allowed table, its key and allowed columns; PII columns are masked with the named rule.</summary>
public sealed record CdcTable(string Table, IReadOnlyList<string> Key, IReadOnlyList<string> Columns, IReadOnlyDictionary<string, string> Masking);

/// <summary>A change did not fit the topic's registered schema: it went to the dead-letter topic instead.</summary>
public sealed record CdcEventRejected(
    string ConnectorId, string Table, string Operation, string Lsn, string TargetTopic, string DeadLetterTopic,
    string Reason, string Actor, DateTimeOffset At);

/// <summary>A connector was stopped for good: its replication slot and publication were dropped at the source.</summary>
public sealed record CdcConnectorRetired(string ConnectorId, string Reason, string Actor, DateTimeOffset At);

/// <summary>A replication slot or publication of the ledger's naming that no declared connector owns was removed from a source.</summary>
public sealed record CdcOrphanRemoved(string SourceDatabase, string Kind, string Name, string Actor, DateTimeOffset At);
