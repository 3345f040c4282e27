using GovernanceLedger.Contracts.Warehouse;
using Marten.Events.Aggregation;

namespace GovernanceLedger.Projections.Warehouse;

/// <summary>Where one curated export stands: its last run, refusal and failure, and how many runs it has had.</summary>
public sealed class WarehouseExportState
{
    /// <summary>The stream id, <see cref="StreamFor"/> the export's name.</summary>
    public string Id { get; set; } = "";
    public string Export { get; set; } = "";
    public long Runs { get; set; }
    public WarehouseExportRan? LastRun { get; set; }
    public WarehouseExportRefused? LastRefusal { get; set; }
    public WarehouseExportFailed? LastFailure { get; set; }

    public static string StreamFor(string export) => $"warehouse-export:{export}";
}

/// <summary>Folds each export's runs, inline: the lineage and the scheduler read the last run the moment it commits.</summary>
public partial class WarehouseExportProjection : SingleStreamProjection<WarehouseExportState, string>
{
    public WarehouseExportState Create(WarehouseExportRan e) => Apply(e, new WarehouseExportState { Id = WarehouseExportState.StreamFor(e.Export), Export = e.Export });
    public WarehouseExportState Create(WarehouseExportRefused e) => Apply(e, new WarehouseExportState { Id = WarehouseExportState.StreamFor(e.Export), Export = e.Export });
    public WarehouseExportState Create(WarehouseExportFailed e) => Apply(e, new WarehouseExportState { Id = WarehouseExportState.StreamFor(e.Export), Export = e.Export });

    public WarehouseExportState Apply(WarehouseExportRan e, WarehouseExportState state)
    {
        state.Runs++;
        state.LastRun = e;
        return state;
    }

    public WarehouseExportState Apply(WarehouseExportRefused e, WarehouseExportState state)
    {
        state.LastRefusal = e;
        return state;
    }

    public WarehouseExportState Apply(WarehouseExportFailed e, WarehouseExportState state)
    {
        state.LastFailure = e;
        return state;
    }
}
