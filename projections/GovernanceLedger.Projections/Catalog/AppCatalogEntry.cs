using GovernanceLedger.Contracts.Apps;

namespace GovernanceLedger.Projections.Catalog;

/// <summary>What a person sees about one app: its manifest, where it stands, and why.</summary>
public sealed class AppCatalogEntry
{
    public string Id { get; set; } = "";
    public string Status { get; set; } = "";
    public string Owner { get; set; } = "";
    public string? Description { get; set; }
    public List<string> Scopes { get; set; } = [];
    public List<string> Connectors { get; set; } = [];
    public List<DatasetRequest> Datasets { get; set; } = [];
    public List<string> PolicySets { get; set; } = [];
    /// <summary>Curated topics the app may read now (read:topic grants).</summary>
    public List<string> Topics { get; set; } = [];
    public string? Template { get; set; }
    public string GeneratedBy { get; set; } = Generators.Human;
    public string? CostCenter { get; set; }
    /// <summary>Why the app needs what it asks for, in the builder's words.</summary>
    public string? Purpose { get; set; }
    /// <summary>The packages and AI models the manifest declares (or its SBOM listed).</summary>
    public GovernanceLedger.Contracts.SupplyChain.AppDependencies? Dependencies { get; set; }
    /// <summary>For an agent-generated manifest: what it asks for beyond its template or previous version.</summary>
    public IntentAssessed? Intent { get; set; }
    public int? DataRetentionDays { get; set; }
    public int ExpiresInDays { get; set; }
    public AppQuotas Quotas { get; set; } = new(null, null, null);
    public List<PolicyFinding> Findings { get; set; } = [];
    public int RequiredApprovals { get; set; }
    public List<ApprovalEntry> Approvals { get; set; } = [];
    public string? StatusReason { get; set; }
    public DateTimeOffset RegisteredAt { get; set; }
    /// <summary>1 for the manifest registered; one more for each resubmitted one.</summary>
    public int ManifestVersion { get; set; } = 1;
    public string RegisteredBy { get; set; } = "";
    public DateTimeOffset? ApprovedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public DateTimeOffset? RetainUntil { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    /// <summary>A detector's throttle: the requests per second allowed until <see cref="ThrottledUntil"/>.</summary>
    public int? ThrottleRequestsPerSecond { get; set; }
    public DateTimeOffset? ThrottledUntil { get; set; }
    /// <summary>Where the retired app's timeline was archived, and the hash of its manifest.</summary>
    public string? ArchiveLocation { get; set; }
    public string? ArchiveManifestSha256 { get; set; }
    /// <summary>When the retired app's data was purged from the stores that keep it, and how many records went.</summary>
    public DateTimeOffset? DataPurgedAt { get; set; }
    public long? DataPurgedRecords { get; set; }
    /// <summary>The app stream's version, to send back as expected_version. Set from the last event applied, live or in a rebuild.</summary>
    [System.Text.Json.Serialization.JsonPropertyName("version")]
    public long StreamVersion { get; set; }
}

public sealed record PolicyFinding(string PolicyId, int PolicyVersion, string Outcome, string Reason, IReadOnlyList<string> Findings);

public sealed record ApprovalEntry(string Reviewer, string Decision, string Reason, DateTimeOffset At);
