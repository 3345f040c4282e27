using GovernanceLedger.Contracts.Apps;

namespace GovernanceLedger.Apps;

/// <summary>
/// The write model of one app: only what lifecycle decisions need, folded from its stream by
/// <see cref="Replay"/>. Everything a person looks at comes from the catalog projection instead.
/// </summary>
public sealed record App
{
    public required string Id { get; init; }
    public required string Status { get; init; }
    public required string Owner { get; init; }
    public required IReadOnlyList<string> Scopes { get; init; }
    public IReadOnlyList<DatasetRequest> Datasets { get; init; } = [];
    public int ExpiresInDays { get; init; }
    public int? DataRetentionDays { get; init; }
    /// <summary>How many manifests the app has had: 1 at registration, one more with each resubmission.</summary>
    public int ManifestVersion { get; init; } = 1;
    public int RequiredApprovals { get; init; }
    public IReadOnlyList<string> Approvers { get; init; } = [];
    /// <summary>Every name the approvers so far go by: a later approval under any of them is the same person.</summary>
    public IReadOnlySet<string> ApproverNames { get; init; } = new HashSet<string>();
    /// <summary>Who registered the app ("person:sub"): they count as its owner whenever a decision must not be theirs.</summary>
    public string? RegisteredBy { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public string? PausedBy { get; init; }
    /// <summary>A reviewer's or the ledger's pause: only a reviewer lifts it.</summary>
    public bool SecurityPause { get; init; }
    /// <summary>Who may use the app as its end user; null is the owner alone.</summary>
    public AppAudience? Audience { get; init; }
    /// <summary>The packages and models the app's manifest declares: checked again against the advisories in force when it is approved.</summary>
    public Contracts.SupplyChain.AppDependencies? Dependencies { get; init; }
    /// <summary>Until when a detector's throttle holds the app's rate down.</summary>
    public DateTimeOffset? ThrottledUntil { get; init; }
    /// <summary>When the retired app's timeline was archived.</summary>
    public DateTimeOffset? ArchivedAt { get; init; }
    /// <summary>Until when a retired app's data is kept; then it is purged.</summary>
    public DateTimeOffset? RetainUntil { get; init; }
    /// <summary>When the retired app's data was purged from the stores that keep it.</summary>
    public DateTimeOffset? DataPurgedAt { get; init; }
    /// <summary>When the ledger last acted on an anomaly: it acts at most once a minute.</summary>
    public DateTimeOffset? LastAnomalyAt { get; init; }
    /// <summary>The window each alerting detector last fired on: an alert is recorded once per detector and window.</summary>
    public IReadOnlyDictionary<string, string> AlertedWindows { get; init; } = new Dictionary<string, string>();

    public bool IsExpiredAt(DateTimeOffset now) => ExpiresAt is { } at && now >= at;

    /// <summary>Folds a stream (or freshly decided events on top of a known state) into the write model.</summary>
    public static App Replay(IEnumerable<object> events, App? start = null) =>
        events.Aggregate(start, (app, e) => e is AppRegistered r ? Registered(r) : app!.Evolve(e))!;

    // Named After rather than Apply so Marten folds the stream only through AppWriteModel, never by convention.
    public App Evolve(object e) => e switch
    {
        ManifestResubmitted x => After(x),
        AppRoutedToReview x => After(x),
        ApprovalGiven x => After(x),
        AppApproved x => After(x),
        AppRejected x => After(x),
        AppPaused x => After(x),
        AppResumed x => After(x),
        AppExpired x => After(x),
        AppRetired x => After(x),
        AppRenewed x => After(x),
        AppThrottled x => this with { ThrottledUntil = x.Until },
        AppThrottleLifted => this with { ThrottledUntil = null },
        AnomalyDetected { Action: Contracts.Policies.PolicyOutcomes.Alert } x =>
            this with { AlertedWindows = new Dictionary<string, string>(AlertedWindows) { [x.PolicyId] = x.Window } },
        AnomalyDetected x => this with { LastAnomalyAt = x.At },
        AppArchived x => this with { ArchivedAt = x.At },
        AppDataPurged x => this with { DataPurgedAt = x.At },
        _ => this
    };

    public static App Registered(AppRegistered e) => new App
    {
        Id = e.AppId,
        Status = AppStatus.PendingReview,
        Owner = e.Manifest.Owner,
        Scopes = e.Manifest.Scopes,
        RegisteredBy = e.Actor
    }.WithTerms(e.Manifest);

    /// <summary>What a manifest decides about the app: its access, its terms and what it is built from.</summary>
    private App WithTerms(AppManifest m) => this with
    {
        Scopes = m.Scopes,
        Datasets = m.Datasets,
        ExpiresInDays = m.ExpiresInDays,
        DataRetentionDays = m.DataRetentionDays,
        Audience = m.Audience,
        Dependencies = m.Dependencies
    };

    /// <summary>
    /// Whether a decision on the app would be the caller deciding on their own app: they are its owner by name,
    /// or the subject that registered it (which holds even when their token carries no e-mail address).
    /// </summary>
    public bool IsOwnedBy(Security.Caller caller) =>
        caller.Owns(Owner) || (RegisteredBy is { } by && by.IndexOf(':') is var at and >= 0 && Security.Identity.Same(by[(at + 1)..], caller.Subject));

    /// <summary>Whether a person may use this app as its end user: the owner always, others only when the audience names them.</summary>
    public bool Serves(string subject, string? email, IReadOnlySet<string> groups)
    {
        var names = new[] { subject, email }.Select(Security.Identity.Canonical).OfType<string>().ToList();
        if (names.Any(n => Security.Identity.Same(n, Owner))) return true;
        if (Audience is null) return false;
        return names.Any(n => Audience.People.Any(p => Security.Identity.Same(p, n))) || groups.Any(Audience.Groups.Contains);
    }

    /// <summary>A new manifest: its scopes, datasets and terms replace the old ones, and the decision starts again.</summary>
    public App After(ManifestResubmitted e) => WithTerms(e.Manifest) with
    {
        Status = AppStatus.PendingReview,
        RequiredApprovals = 0,
        Approvers = [],
        ApproverNames = new HashSet<string>(),
        ManifestVersion = e.ManifestVersion
    };

    public App After(AppRoutedToReview e) => this with { RequiredApprovals = e.RequiredApprovals };
    public App After(ApprovalGiven e) => this with
    {
        Approvers = [.. Approvers, e.Reviewer],
        ApproverNames = ApproverNames.Concat(e.Names ?? [NameOf(e.Reviewer)]).ToHashSet(StringComparer.Ordinal)
    };

    /// <summary>"person:Security@Example.com" or "agent:x" recorded before names were kept: its canonical name.</summary>
    private static string NameOf(string actor)
    {
        var name = actor.IndexOf(':') is var at and >= 0 ? actor[(at + 1)..] : actor;
        return Security.Identity.Canonical(name) ?? name;
    }
    public App After(AppApproved e) => this with { Status = AppStatus.Active, ExpiresAt = e.ExpiresAt };
    public App After(AppRejected _) => this with { Status = AppStatus.Rejected };
    public App After(AppPaused e) => this with { Status = AppStatus.Paused, PausedBy = e.Actor, SecurityPause = e.BySecurity || e.Actor == "ledger" };
    public App After(AppResumed _) => this with { Status = AppStatus.Active, PausedBy = null, SecurityPause = false };
    public App After(AppExpired _) => this with { Status = AppStatus.Expired };
    public App After(AppRetired e) => this with { Status = AppStatus.Retired, RetainUntil = e.RetainUntil };

    // Renewing an expired app brings it back; a paused app stays paused until someone resumes it.
    public App After(AppRenewed e) => this with
    {
        ExpiresAt = e.ExpiresAt,
        Status = Status == AppStatus.Expired ? AppStatus.Active : Status
    };
}
