using GovernanceLedger.Contracts.Streaming;
using Marten.Events.Projections;

namespace GovernanceLedger.Projections.Streaming;

/// <summary>Whether an app may read (or, for a write grant, produce to) a curated topic now, and on whose decision.</summary>
public sealed class TopicGrant
{
    public string Id { get; set; } = "";
    public string AppId { get; set; } = "";
    public string Topic { get; set; } = "";
    public string Access { get; set; } = TopicAccess.Read;
    public string ConsumerGroup { get; set; } = "";
    public bool Active { get; set; }
    public string DecidedBy { get; set; } = "";
    public string Reason { get; set; } = "";
    public DateTimeOffset DecidedAt { get; set; }

    /// <summary>Read grants keep the id they always had; a write grant is a document of its own beside it.</summary>
    public static string IdFor(string appId, string topic, string? access = null) =>
        TopicAccess.Of(access) == TopicAccess.Write ? $"{appId}:{topic}:write" : $"{appId}:{topic}";
}

/// <summary>Folds grants and revocations (recorded in each app's lifecycle stream) per app and topic, inline.</summary>
public partial class TopicGrantProjection : MultiStreamProjection<TopicGrant, string>
{
    public TopicGrantProjection()
    {
        Identity<TopicAccessGranted>(e => TopicGrant.IdFor(e.AppId, e.Topic, e.Access));
        Identity<TopicAccessRevoked>(e => TopicGrant.IdFor(e.AppId, e.Topic, e.Access));
    }

    // Create consumes the event, so it applies it too.
    public TopicGrant Create(TopicAccessGranted e)
    {
        var grant = new TopicGrant { Id = TopicGrant.IdFor(e.AppId, e.Topic, e.Access), AppId = e.AppId, Topic = e.Topic, Access = TopicAccess.Of(e.Access) };
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
