namespace GovernanceLedger.Contracts.Apps;

/// <summary>
/// What a builder declares about a micro app. The JSON form (snake_case) is validated against
/// schemas/manifest.schema.json before it becomes this record.
/// </summary>
public sealed record AppManifest
{
    public required string AppId { get; init; }
    public required string Owner { get; init; }
    public string? Description { get; init; }
    public IReadOnlyList<string> Scopes { get; init; } = [];
    public IReadOnlyList<string> Connectors { get; init; } = [];
    public IReadOnlyList<DatasetRequest> Datasets { get; init; } = [];
    public int? DataRetentionDays { get; init; }
    public int ExpiresInDays { get; init; } = AppDefaults.ExpiresInDays;
    public string? CostCenter { get; init; }
    public string GeneratedBy { get; init; } = Generators.Human;
    public string? Template { get; init; }
    public IReadOnlyList<string> PolicySets { get; init; } = [];
    /// <summary>Data-plane limits; null members fall back to the product defaults.</summary>
    public AppQuotas? Quotas { get; init; }
    /// <summary>Who may use the app as its end user; null means the owner alone.</summary>
    public AppAudience? Audience { get; init; }
    /// <summary>Why the app needs what it asks for, in the builder's words (required when an agent widens an app's access).</summary>
    public string? Purpose { get; init; }
    /// <summary>The packages and AI models the app is built from, declared or read from an uploaded SBOM.</summary>
    public SupplyChain.AppDependencies? Dependencies { get; init; }
}

/// <summary>People (lowercase e-mail addresses) and groups (from the people token's groups claim) an app serves.</summary>
public sealed record AppAudience(IReadOnlyList<string> People, IReadOnlyList<string> Groups);

public sealed record AppQuotas(int? RequestsPerDay, int? RequestsPerSecond, long? RowsPerDay)
{
    public const int DefaultRequestsPerDay = 1_000;
    public const int DefaultRequestsPerSecond = 20;
    public const long DefaultRowsPerDay = 10_000_000;

    public int EffectiveRequestsPerDay => RequestsPerDay ?? DefaultRequestsPerDay;
    public int EffectiveRequestsPerSecond => RequestsPerSecond ?? DefaultRequestsPerSecond;
    public long EffectiveRowsPerDay => RowsPerDay ?? DefaultRowsPerDay;
}

public sealed record DatasetRequest(string Name, IReadOnlyList<string> Fields);

public static class Generators
{
    public const string Human = "human";
    public const string Agent = "agent";
}

public static class AppDefaults
{
    public const int ExpiresInDays = 90;
}
