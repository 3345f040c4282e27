namespace GovernanceLedger.Contracts.Apps;

// The app lifecycle stream, keyed by app_id. Every event names the app, the actor and the time;
// actors are written "person:<sub>", "agent:<sub>" or "ledger" (the ledger deciding by policy).

public sealed record AppRegistered(string AppId, AppManifest Manifest, string Actor, DateTimeOffset At);

/// <summary>
/// The owner sent a changed manifest for an app that was refused or is waiting for review: the app starts its
/// decision again under the same app_id (policies judge the new manifest; earlier approvals no longer count).
/// <paramref name="ManifestVersion"/> counts the manifests the app has had, the first registration being 1.
/// </summary>
public sealed record ManifestResubmitted(string AppId, AppManifest Manifest, int ManifestVersion, string Actor, DateTimeOffset At);

/// <summary>One policy's verdict on a registration: which policy, which version, and why.</summary>
public sealed record PolicyChecked(
    string AppId, string PolicyId, int PolicyVersion, string ContentHash,
    string Outcome, string Reason, IReadOnlyList<string> Findings, string Actor, DateTimeOffset At);

/// <summary>
/// How a manifest differs from the template it names (<paramref name="Baseline"/>: "template &lt;id&gt;", or "none" when it names
/// none), recorded beside the policy checks so reviewers see what an agent asked for beyond its starting point.
/// </summary>
public sealed record IntentAssessed(
    string AppId, string Baseline, IReadOnlyList<string> AddedScopes, IReadOnlyList<string> RemovedScopes, IReadOnlyList<string> AddedDatasets,
    IReadOnlyList<string> AddedFields, IReadOnlyList<string> AddedPiiFields, string? Purpose, string Actor, DateTimeOffset At)
{
    public bool Widens => AddedScopes.Count > 0 || AddedDatasets.Count > 0 || AddedFields.Count > 0;
}

public sealed record AppRoutedToReview(
    string AppId, int RequiredApprovals, IReadOnlyList<string> Reasons, string Actor, DateTimeOffset At);

/// <summary>Names: every canonical name of the reviewer (subject and e-mail), so one person is counted once.</summary>
public sealed record ApprovalGiven(string AppId, string Reviewer, string Reason, DateTimeOffset At, IReadOnlyList<string>? Names = null);

public sealed record AppApproved(
    string AppId, IReadOnlyList<string> Approvers, string Reason, DateTimeOffset ExpiresAt, string Actor, DateTimeOffset At);

public sealed record AppRejected(
    string AppId, string Reason, string? PolicyId, int? PolicyVersion, string Actor, DateTimeOffset At);

/// <summary>What the app may touch from now on: its scopes and its dataset fields.</summary>
public sealed record AccessGranted(
    string AppId, IReadOnlyList<string> Scopes, IReadOnlyList<DatasetRequest> Datasets, string Actor, DateTimeOffset At);

public sealed record AccessRevoked(string AppId, IReadOnlyList<string> Scopes, string Reason, string Actor, DateTimeOffset At);

/// <summary>A credential was handed out. The token itself is never stored, only its id.</summary>
public sealed record AppTokenIssued(
    string AppId, string TokenId, string KeyId, IReadOnlyList<string> Scopes, string? EndUser,
    DateTimeOffset ExpiresAt, string Actor, DateTimeOffset At, bool Sandbox = false);

/// <summary>A token request was refused: who asked, for whom, and the rule that refused it.</summary>
public sealed record AppTokenRefused(
    string AppId, string? EndUser, string Rule, string Reason, string Actor, DateTimeOffset At, bool Sandbox = false);

public sealed record TokensRevoked(string AppId, IReadOnlyList<string> TokenIds, string Reason, string Actor, DateTimeOffset At);

public sealed record AppRenewed(
    string AppId, DateTimeOffset PreviousExpiry, DateTimeOffset ExpiresAt, string Actor, DateTimeOffset At, string? Reason = null);

/// <summary>BySecurity: a reviewer's pause, which only a reviewer (never the owner) lifts; it overrides an owner's own pause.</summary>
public sealed record AppPaused(string AppId, string Reason, string Actor, DateTimeOffset At, bool BySecurity = false);

/// <summary>
/// A governance action on the app was refused (a lifecycle change, a decision, a grant or revoke): which
/// action, the rule that refused it and why, and who asked. Kept in the app's per-day governance stream.
/// </summary>
public sealed record GovernanceActionRefused(string AppId, string Action, string Rule, string Reason, string Actor, DateTimeOffset At);

public sealed record AppResumed(string AppId, string Reason, string Actor, DateTimeOffset At);

public sealed record AppExpired(string AppId, DateTimeOffset ExpiresAt, string Actor, DateTimeOffset At);

public sealed record AppRetired(
    string AppId, string Reason, int? DataRetentionDays, DateTimeOffset? RetainUntil, string Actor, DateTimeOffset At);
