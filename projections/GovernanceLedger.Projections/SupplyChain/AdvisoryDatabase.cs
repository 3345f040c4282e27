using GovernanceLedger.Contracts.SupplyChain;
using Marten.Events.Aggregation;

namespace GovernanceLedger.Projections.SupplyChain;

/// <summary>The advisory snapshot in force (the latest imported), and the advisory ids of the one before it.</summary>
public sealed class AdvisoryDatabase
{
    /// <summary>The stream id, <see cref="StreamId"/>.</summary>
    public string Id { get; set; } = StreamId;
    public int Version { get; set; }
    public string Source { get; set; } = "";
    public string Sha256 { get; set; } = "";
    public DateTimeOffset ImportedAt { get; set; }
    public string ImportedBy { get; set; } = "";
    public List<Advisory> Advisories { get; set; } = [];
    public List<string> PreviousIds { get; set; } = [];

    public const string StreamId = "supply-chain:advisories";
}

/// <summary>Folds the advisory snapshots, inline: each import replaces the one before it.</summary>
public partial class AdvisoryDatabaseProjection : SingleStreamProjection<AdvisoryDatabase, string>
{
    public AdvisoryDatabase Create(AdvisoriesImported e)
    {
        var database = new AdvisoryDatabase();
        Apply(e, database);
        return database;
    }

    public void Apply(AdvisoriesImported e, AdvisoryDatabase database)
    {
        database.PreviousIds = database.Advisories.Select(a => a.Id).ToList();
        database.Version = e.Version;
        database.Source = e.Source;
        database.Sha256 = e.Sha256;
        database.ImportedAt = e.At;
        database.ImportedBy = e.Actor;
        database.Advisories = e.Advisories.ToList();
    }
}
