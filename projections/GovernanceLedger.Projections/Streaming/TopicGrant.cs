using GovernanceLedger.Contracts.Streaming;
using Marten.Events.Projections;

namespace GovernanceLedger.Projections.Streaming;

/// <summary>Whether an app may read a curated topic now, and on whose decision.</summary>
public sealed class TopicGrant
{
    public string Id { get; set; } = "";
    public string AppId { get; set; } = "";
    public string Topic { get; set; } = "";
    public string ConsumerGroup { get; set; } = "";
    public bool Active { get; set; }
    public string DecidedBy { get; set; } = "";
    public string Reason { get; set; } = "";
    public DateTimeOffset DecidedAt { get; set; }

    public static string IdFor(string appId, string topic) => $"{appId}:{topic}";
}

/// <summary>Folds grants and revocations (recorded in each app's lifecycle stream) per app and topic, inline.</summary>
public partial class TopicGrantProjection : MultiStreamProjection<TopicGrant, string>
{
    public TopicGrantProjection()
    {
        Identity<TopicAccessGranted>(e => TopicGrant.IdFor(e.AppId, e.Topic));
        Identity<TopicAccessRevoked>(e => TopicGrant.IdFor(e.AppId, e.Topic));
    }

    // Create consumes the event, so it applies it too.
    public TopicGrant Create(TopicAccessGranted e)
    {
        var grant = new TopicGrant { Id = TopicGrant.IdFor(e.AppId, e.Topic), AppId = e.AppId, Topic = e.Topic };
        Apply(e, grant);
        return grant;
    }

    public void Apply(TopicAccessGranted e, TopicGrant grant)
    {
        grant.Active = true;
        grant.ConsumerGroup = e.ConsumerGroup;
        grant.DecidedBy = e.Actor;
        grant.Reason = e.Reason;
        grant.DecidedAt = e.At;
    }

    public void Apply(TopicAccessRevoked e, TopicGrant grant)
    {
        grant.Active = false;
        grant.DecidedBy = e.Actor;
        grant.Reason = e.Reason;
        grant.DecidedAt = e.At;
    }
}
