using GovernanceLedger.Contracts.Streaming;
using Marten.Events.Aggregation;

namespace GovernanceLedger.Projections.Streaming;

/// <summary>One Kafka topic as the ledger knows it: who owns it, what it is for, and its settings now.</summary>
public sealed class TopicEntry
{
    /// <summary>The topic's stream id, <c>topic:{name}</c>.</summary>
    public string Id { get; set; } = "";
    public string Topic { get; set; } = "";
    public string Status { get; set; } = TopicStatus.Requested;
    public string Owner { get; set; } = "";
    public string Purpose { get; set; } = "";
    public int Partitions { get; set; }
    public int RetentionDays { get; set; }
    public string? Cluster { get; set; }
    public string RequestedBy { get; set; } = "";
    public DateTimeOffset RequestedAt { get; set; }
    public DateTimeOffset? ProvisionedAt { get; set; }
    public int Changes { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public bool IsProvisioned => Status == TopicStatus.Provisioned;
}

public static class TopicStatus
{
    public const string Requested = "requested";
    public const string Denied = "denied";
    public const string Provisioned = "provisioned";
}

/// <summary>Folds each topic's stream (request, policy decision, provisioning, changes), inline with every append.</summary>
public partial class TopicProjection : SingleStreamProjection<TopicEntry, string>
{
    public TopicEntry Create(TopicRequested e) => new()
    {
        Topic = e.Topic, Owner = e.Owner, Purpose = e.Purpose, Partitions = e.Partitions, RetentionDays = e.RetentionDays,
        RequestedBy = e.Actor, RequestedAt = e.At, UpdatedAt = e.At
    };

    /// <summary>Asked again (the earlier request was refused, or never reached the cluster): the newest request counts.</summary>
    public void Apply(TopicRequested e, TopicEntry topic)
    {
        if (topic.IsProvisioned) return;
        topic.Status = TopicStatus.Requested;
        topic.Owner = e.Owner;
        topic.Purpose = e.Purpose;
        topic.Partitions = e.Partitions;
        topic.RetentionDays = e.RetentionDays;
        topic.RequestedBy = e.Actor;
        topic.RequestedAt = e.At;
        topic.UpdatedAt = e.At;
    }

    public void Apply(TopicRequestDenied e, TopicEntry topic)
    {
        // A refused change leaves a provisioned topic as it was.
        if (!topic.IsProvisioned) topic.Status = TopicStatus.Denied;
        topic.UpdatedAt = e.At;
    }

    public void Apply(TopicProvisioned e, TopicEntry topic)
    {
        topic.Status = TopicStatus.Provisioned;
        topic.Partitions = e.Partitions;
        topic.RetentionDays = e.RetentionDays;
        topic.Cluster = e.Cluster;
        topic.ProvisionedAt ??= e.At;
        topic.UpdatedAt = e.At;
    }

    public void Apply(TopicChanged e, TopicEntry topic)
    {
        topic.Partitions = e.Partitions;
        topic.RetentionDays = e.RetentionDays;
        topic.Changes++;
        topic.UpdatedAt = e.At;
    }
}
