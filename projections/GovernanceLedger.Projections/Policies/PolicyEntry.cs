using GovernanceLedger.Contracts.Policies;
using Marten.Events.Aggregation;

namespace GovernanceLedger.Projections.Policies;

/// <summary>One policy's latest published version, and whether it is in force (its file was not removed since).</summary>
public sealed class PolicyEntry
{
    /// <summary>The policy's stream id, <c>policy:{id}</c>.</summary>
    public string Id { get; set; } = "";
    public string PolicyId { get; set; } = "";
    /// <summary>Not "Version": Marten would take a property of that name for the stream's version.</summary>
    public int PolicyVersion { get; set; }
    public string ContentHash { get; set; } = "";
    public string Title { get; set; } = "";
    public string Effect { get; set; } = "";
    public string Author { get; set; } = "";
    public DateTimeOffset PublishedAt { get; set; }
    public bool InForce { get; set; }
    public DateTimeOffset? WithdrawnAt { get; set; }
}

/// <summary>Folds each policy's stream of publications and withdrawals, inline.</summary>
public partial class PolicyProjection : SingleStreamProjection<PolicyEntry, string>
{
    public PolicyEntry Create(PolicyPublished e)
    {
        var entry = new PolicyEntry { PolicyId = e.PolicyId };
        Apply(e, entry);
        return entry;
    }

    public void Apply(PolicyPublished e, PolicyEntry entry)
    {
        entry.PolicyVersion = e.Version;
        entry.ContentHash = e.ContentHash;
        entry.Title = e.Title;
        entry.Effect = e.Effect;
        entry.Author = e.Author;
        entry.PublishedAt = e.At;
        entry.InForce = true;
        entry.WithdrawnAt = null;
    }

    public void Apply(PolicyWithdrawn e, PolicyEntry entry)
    {
        if (e.LastVersion < entry.PolicyVersion) return;
        entry.InForce = false;
        entry.WithdrawnAt = e.At;
    }
}
