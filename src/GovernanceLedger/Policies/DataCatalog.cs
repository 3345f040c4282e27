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

    /// <summary>
    /// The cost centres apps may be charged to, and whose apps each may charge to it: finance's list. An app names one of
    /// them only for an owner it lists (the cost-center-is-the-owners policy), and a cost centre's budget counts and
    /// throttles only such apps, so nobody spends, or is throttled by, a cost centre they were not given.
    /// </summary>
    public List<CostCenterEntry> CostCenterList { get; init; } = [];

    /// <summary>Whether apps of this owner are charged to the cost centre.</summary>
    public bool Bills(string? costCenter, string? owner) =>
        costCenter is { Length: > 0 } && CostCenterList.Any(c => c.Id == costCenter && c.Owners.Any(o => GovernanceLedger.Security.Identity.Same(o, owner)));

    public IReadOnlyDictionary<string, ConnectorEntry> Connectors => ConnectorList.ToDictionary(c => c.Name, StringComparer.Ordinal);
    public IReadOnlyDictionary<string, DatasetEntry> Datasets => DatasetList.ToDictionary(d => d.Name, StringComparer.Ordinal);
}

public sealed class CostCenterEntry
{
    public string Id { get; init; } = "";
    /// <summary>The people (e-mail addresses) whose apps it pays for.</summary>
    public List<string> Owners { get; init; } = [];
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
    /// <summary>Connection string name of the source the data proxy reads (e.g. SalesDb); empty when the proxy does not serve it.</summary>
    public string Source { get; init; } = "";
    /// <summary>The curated view the proxy selects from, schema-qualified (e.g. curated.customers).</summary>
    public string View { get; init; } = "";
    /// <summary>The row-level-security key the proxy sets from the token (e.g. region sets app.region).</summary>
    public string? RlsKey { get; init; }
    /// <summary>
    /// Why every row of a dataset may be read though the dataset it is exported from is scoped by its RlsKey: a decision
    /// written down, not a key forgotten. Without an RlsKey or this, such a dataset stops the host from starting.
    /// </summary>
    public string? RowScopeExemption { get; init; }
    public string RequiredScope { get; init; } = "";
    /// <summary>How each PII field is masked for tokens without the PII scope: partial, hash or redact.</summary>
    public Dictionary<string, string> Masking { get; init; } = new(StringComparer.Ordinal);

    public string MaskingFor(string field) => Masking.GetValueOrDefault(field, "hash");

    /// <summary>Whether an end user states a reason (the X-Access-Reason header) before its PII is shown unmasked; the reveal policies read it.</summary>
    public bool RevealRequiresReason { get; init; }

    /// <summary>The table at the source that holds the dataset (CDC publishes it); by default the dataset's name.</summary>
    public string? Table { get; init; }

    public string TableName => Table ?? Name;

    /// <summary>Whether the data proxy serves it: a source and a curated view to read (a CDC-only dataset has a source but no view).</summary>
    public bool ServedByProxy => Source.Length > 0 && View.Length > 0;
}
