namespace GovernanceLedger.Policies;

/// <summary>
/// The curated connectors and datasets apps may ask for, bound from the "Catalog" configuration
/// section. Policies read it (PII tags, production flags); the data plane serves from it.
/// Lists rather than maps because configuration keys cannot contain ':' (as in postgres:salesdb).
/// </summary>
public sealed class DataCatalog
{
    public List<ConnectorEntry> ConnectorList { get; init; } = [];
    public List<DatasetEntry> DatasetList { get; init; } = [];
    public string PiiScope { get; init; } = "read:pii";
    public int MaxDatasetsSingleApprover { get; init; } = 3;

    public IReadOnlyDictionary<string, ConnectorEntry> Connectors => ConnectorList.ToDictionary(c => c.Name, StringComparer.Ordinal);
    public IReadOnlyDictionary<string, DatasetEntry> Datasets => DatasetList.ToDictionary(d => d.Name, StringComparer.Ordinal);
}

public sealed class ConnectorEntry
{
    public string Name { get; init; } = "";
    public List<string> Scopes { get; init; } = [];
}

public sealed class DatasetEntry
{
    public string Name { get; init; } = "";
    public string Connector { get; init; } = "";
    public List<string> Fields { get; init; } = [];
    public List<string> Pii { get; init; } = [];
    public bool Production { get; init; }
}
