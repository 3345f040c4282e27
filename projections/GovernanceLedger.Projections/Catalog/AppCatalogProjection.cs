using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Streaming;
using Marten.Events.Aggregation;

namespace GovernanceLedger.Projections.Catalog;

/// <summary>Builds the catalog entry of each app from its lifecycle stream, inline with every append.</summary>
public partial class AppCatalogProjection : SingleStreamProjection<AppCatalogEntry, string>
{
    public AppCatalogEntry Create(AppRegistered e)
    {
        var m = e.Manifest;
        return new AppCatalogEntry
        {
            Id = e.AppId,
            Status = AppStatus.PendingReview,
            Owner = m.Owner,
            Description = m.Description,
            Scopes = [.. m.Scopes],
            Connectors = [.. m.Connectors],
            Datasets = [.. m.Datasets],
            PolicySets = [.. m.PolicySets],
            Template = m.Template,
            GeneratedBy = m.GeneratedBy,
            CostCenter = m.CostCenter,
            Purpose = m.Purpose,
            Dependencies = m.Dependencies,
            DataRetentionDays = m.DataRetentionDays,
            ExpiresInDays = m.ExpiresInDays,
            Quotas = m.Quotas ?? new AppQuotas(null, null, null),
            RegisteredAt = e.At,
            RegisteredBy = e.Actor,
            UpdatedAt = e.At
        };
    }

    /// <summary>A changed manifest replaces the old one; the verdicts and approvals on the old one are cleared.</summary>
    public void Apply(ManifestResubmitted e, AppCatalogEntry app)
    {
        var m = e.Manifest;
        app.Status = AppStatus.PendingReview;
        app.Description = m.Description;
        app.Scopes = [.. m.Scopes];
        app.Connectors = [.. m.Connectors];
        app.Datasets = [.. m.Datasets];
        app.PolicySets = [.. m.PolicySets];
        app.Template = m.Template;
        app.GeneratedBy = m.GeneratedBy;
        app.CostCenter = m.CostCenter;
        app.Purpose = m.Purpose;
        app.Dependencies = m.Dependencies;
        app.Intent = null;
        app.DataRetentionDays = m.DataRetentionDays;
        app.ExpiresInDays = m.ExpiresInDays;
        app.Quotas = m.Quotas ?? new AppQuotas(null, null, null);
        app.Findings.Clear();
        app.Approvals.Clear();
        app.RequiredApprovals = 0;
        app.ManifestVersion = e.ManifestVersion;
        app.StatusReason = $"manifest version {e.ManifestVersion} resubmitted";
        app.UpdatedAt = e.At;
    }

    public void Apply(IntentAssessed e, AppCatalogEntry app) => app.Intent = e;

    public void Apply(PolicyChecked e, AppCatalogEntry app) =>
        app.Findings.Add(new PolicyFinding(e.PolicyId, e.PolicyVersion, e.Outcome, e.Reason, e.Findings));

    public void Apply(AppRoutedToReview e, AppCatalogEntry app)
    {
        app.RequiredApprovals = e.RequiredApprovals;
        app.StatusReason = string.Join("; ", e.Reasons);
        app.UpdatedAt = e.At;
    }

    public void Apply(ApprovalGiven e, AppCatalogEntry app)
    {
        app.Approvals.Add(new ApprovalEntry(e.Reviewer, "approve", e.Reason, e.At));
        app.UpdatedAt = e.At;
    }

    public void Apply(AppApproved e, AppCatalogEntry app) =>
        Move(app, AppStatus.Active, e.Reason, e.At, a => { a.ApprovedAt = e.At; a.ExpiresAt = e.ExpiresAt; });

    public void Apply(AppRejected e, AppCatalogEntry app)
    {
        if (e.Actor != "ledger") app.Approvals.Add(new ApprovalEntry(e.Actor, "reject", e.Reason, e.At));
        Move(app, AppStatus.Rejected, e.Reason, e.At);
    }

    public void Apply(AppPaused e, AppCatalogEntry app) => Move(app, AppStatus.Paused, e.Reason, e.At);
    public void Apply(AppResumed e, AppCatalogEntry app) => Move(app, AppStatus.Active, e.Reason, e.At);
    public void Apply(AppExpired e, AppCatalogEntry app) => Move(app, AppStatus.Expired, $"approval ran out at {e.ExpiresAt:O}", e.At);

    public void Apply(AppRenewed e, AppCatalogEntry app) =>
        Move(app, app.Status == AppStatus.Expired ? AppStatus.Active : app.Status, $"renewed until {e.ExpiresAt:O}", e.At,
            a => a.ExpiresAt = e.ExpiresAt);

    public void Apply(AppRetired e, AppCatalogEntry app) =>
        Move(app, AppStatus.Retired, e.Reason, e.At, a => a.RetainUntil = e.RetainUntil);

    // Grants and revocations change nothing shown here but the time; handling them keeps every lifecycle
    // event flowing through the projection, so live and rebuilt entries end on the same stream version.
    public void Apply(AppThrottled e, AppCatalogEntry app)
    {
        app.ThrottleRequestsPerSecond = e.RequestsPerSecond;
        app.ThrottledUntil = e.Until;
        app.UpdatedAt = e.At;
    }

    public void Apply(AnomalyDetected e, AppCatalogEntry app) => app.UpdatedAt = e.At;

    public void Apply(AppThrottleLifted e, AppCatalogEntry app)
    {
        app.ThrottleRequestsPerSecond = null;
        app.ThrottledUntil = null;
        app.UpdatedAt = e.At;
    }

    public void Apply(AppArchived e, AppCatalogEntry app)
    {
        app.ArchiveLocation = e.Location;
        app.ArchiveManifestSha256 = e.ManifestSha256;
        app.UpdatedAt = e.At;
    }

    public void Apply(AppDataPurged e, AppCatalogEntry app)
    {
        app.DataPurgedAt = e.At;
        app.DataPurgedRecords = e.Records;
        app.UpdatedAt = e.At;
    }
    public void Apply(AccessGranted e, AppCatalogEntry app) => app.UpdatedAt = e.At;
    public void Apply(AccessRevoked e, AppCatalogEntry app) => app.UpdatedAt = e.At;
    public void Apply(TokensRevoked e, AppCatalogEntry app) => app.UpdatedAt = e.At;

    public void Apply(TopicAccessGranted e, AppCatalogEntry app)
    {
        if (!app.Topics.Contains(e.Topic)) app.Topics.Add(e.Topic);
        app.UpdatedAt = e.At;
    }

    public void Apply(TopicAccessRevoked e, AppCatalogEntry app)
    {
        app.Topics.Remove(e.Topic);
        app.UpdatedAt = e.At;
    }

    public override AppCatalogEntry ApplyMetadata(AppCatalogEntry snapshot, JasperFx.Events.IEvent lastEvent)
    {
        snapshot.StreamVersion = lastEvent.Version;
        return snapshot;
    }

    private static void Move(AppCatalogEntry app, string status, string reason, DateTimeOffset at, Action<AppCatalogEntry>? also = null)
    {
        app.Status = status;
        app.StatusReason = reason;
        app.UpdatedAt = at;
        also?.Invoke(app);
    }
}
