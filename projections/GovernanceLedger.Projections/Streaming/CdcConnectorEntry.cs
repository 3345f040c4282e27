using GovernanceLedger.Contracts.Streaming;
using Marten.Events.Aggregation;

namespace GovernanceLedger.Projections.Streaming;

/// <summary>A CDC connector's latest declaration, whether it runs (declared and not retired since), and how many changes it refused.</summary>
public sealed class CdcConnectorEntry
{
    /// <summary>The connector's stream id, <c>cdc-connector:{id}</c>.</summary>
    public string Id { get; set; } = "";
    public string ConnectorId { get; set; } = "";
    public CdcConnectorDeclared? Declaration { get; set; }
    public bool Active { get; set; }
    public long Rejected { get; set; }
    public DateTimeOffset? RetiredAt { get; set; }
    public string? RetiredBecause { get; set; }
}

/// <summary>Folds each connector's stream, inline: a declaration after a retirement starts it again.</summary>
public partial class CdcConnectorProjection : SingleStreamProjection<CdcConnectorEntry, string>
{
    public CdcConnectorEntry Create(CdcConnectorDeclared e)
    {
        var entry = new CdcConnectorEntry { ConnectorId = e.ConnectorId };
        Apply(e, entry);
        return entry;
    }

    public void Apply(CdcConnectorDeclared e, CdcConnectorEntry entry)
    {
        entry.Declaration = e;
        entry.Active = true;
        entry.RetiredAt = null;
        entry.RetiredBecause = null;
    }

    public void Apply(CdcConnectorRetired e, CdcConnectorEntry entry)
    {
        entry.Active = false;
        entry.RetiredAt = e.At;
        entry.RetiredBecause = e.Reason;
    }

    public void Apply(CdcEventRejected e, CdcConnectorEntry entry) => entry.Rejected++;
}
