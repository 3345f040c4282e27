using GovernanceLedger.Contracts.Warehouse;
using Marten.Events.Aggregation;

namespace GovernanceLedger.Projections.Warehouse;

/// <summary>One version of a query template and the review it had.</summary>
public sealed class QueryTemplateVersion
{
    public int Version { get; set; }
    public string Description { get; set; } = "";
    public string Sql { get; set; } = "";
    public string Sha256 { get; set; } = "";
    public List<TemplateParameter> Parameters { get; set; } = [];
    public Dictionary<string, IReadOnlyList<string>> Columns { get; set; } = [];
    public List<string> Output { get; set; } = [];
    public string ProposedBy { get; set; } = "";
    public List<string> ProposerNames { get; set; } = [];
    public DateTimeOffset ProposedAt { get; set; }
    /// <summary>pending, approved, rejected or superseded (an approved version a later approval replaced).</summary>
    public string Status { get; set; } = QueryTemplate.Pending;
    public string? DecidedBy { get; set; }
    public string? DecisionReason { get; set; }
    public DateTimeOffset? DecidedAt { get; set; }
}

/// <summary>A named warehouse query: every version proposed, and which one apps run now (the latest approved).</summary>
public sealed class QueryTemplate
{
    public const string Pending = "pending", Approved = "approved", Rejected = "rejected", Superseded = "superseded";

    /// <summary>The stream id, <see cref="StreamFor"/> the template's name.</summary>
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public List<QueryTemplateVersion> Versions { get; set; } = [];

    public QueryTemplateVersion? InForce => Versions.LastOrDefault(v => v.Status == Approved);

    public static string StreamFor(string name) => $"query-template:{name}";
}

/// <summary>Folds a template's proposals and reviews, inline: commands decide on it and apps run what it says is in force.</summary>
public partial class QueryTemplateProjection : SingleStreamProjection<QueryTemplate, string>
{
    public QueryTemplate Create(QueryTemplateProposed e) => Apply(e, new QueryTemplate { Id = QueryTemplate.StreamFor(e.Name), Name = e.Name });

    public QueryTemplate Apply(QueryTemplateProposed e, QueryTemplate template)
    {
        template.Versions.Add(new QueryTemplateVersion
        {
            Version = e.Version, Description = e.Description, Sql = e.Sql, Sha256 = e.Sha256, Parameters = e.Parameters.ToList(),
            Columns = e.Columns.ToDictionary(c => c.Key, c => c.Value), Output = e.Output.ToList(), ProposedBy = e.Actor,
            ProposerNames = e.ActorNames.ToList(), ProposedAt = e.At
        });
        return template;
    }

    public QueryTemplate Apply(QueryTemplateApproved e, QueryTemplate template)
    {
        foreach (var earlier in template.Versions.Where(v => v.Status == QueryTemplate.Approved)) earlier.Status = QueryTemplate.Superseded;
        Decide(template, e.Version, QueryTemplate.Approved, e.Actor, e.Reason, e.At);
        return template;
    }

    public QueryTemplate Apply(QueryTemplateRejected e, QueryTemplate template)
    {
        Decide(template, e.Version, QueryTemplate.Rejected, e.Actor, e.Reason, e.At);
        return template;
    }

    private static void Decide(QueryTemplate template, int version, string status, string actor, string reason, DateTimeOffset at)
    {
        var entry = template.Versions.First(v => v.Version == version);
        entry.Status = status;
        entry.DecidedBy = actor;
        entry.DecisionReason = reason;
        entry.DecidedAt = at;
    }
}
