namespace GovernanceLedger.Contracts.Apps;

// The operations playbook's events: what a detector saw and what the ledger did about it, in the app's own stream.

/// <summary>
/// A detector policy fired on the app's traffic. Evidence: the metric, the window it was measured over, its value
/// and the app's baseline for it (and which baseline: "hour_of_week" or "recent"), and the policy (id and version)
/// that judged it. Action is what the ledger did: alert (recorded and told), throttle or pause.
/// </summary>
public sealed record AnomalyDetected(
    string AppId, string PolicyId, int PolicyVersion, string Metric, string Window, double Value, double Baseline,
    IReadOnlyList<string> Findings, string Action, string Actor, DateTimeOffset At, string? BaselineSource = null);

/// <summary>The app's requests per second are held to <paramref name="RequestsPerSecond"/> until <paramref name="Until"/>, on every instance.</summary>
public sealed record AppThrottled(
    string AppId, int RequestsPerSecond, DateTimeOffset Until, string Reason, string PolicyId, int PolicyVersion, string Actor, DateTimeOffset At);

/// <summary>
/// A retired app's whole timeline (lifecycle, governance, tokens and data-plane events) was written to the archive
/// store as NDJSON with a manifest of hashes signed by the ledger's checkpoint key. <paramref name="ManifestSha256"/>
/// is the hash of the manifest as written; anyone holding the archive can check it against this event.
/// </summary>
public sealed record AppArchived(
    string AppId, string Location, string ManifestSha256, long Events, long LastSequence, string KeyId, string Actor, DateTimeOffset At);

/// <summary>The throttle on the app ended: a reviewer lifted it, or its time ran out (Actor "ledger").</summary>
public sealed record AppThrottleLifted(string AppId, string Reason, string Actor, DateTimeOffset At);

/// <summary>
/// The retention of a retired app ran out (<paramref name="RetainUntil"/>: its retirement plus data_retention_days) and
/// every store that keeps data apps write purged the app's: how many records each removed, and how many in all.
/// </summary>
public sealed record AppDataPurged(
    string AppId, IReadOnlyList<PurgedData> Stores, long Records, DateTimeOffset RetainUntil, string Actor, DateTimeOffset At);

/// <summary>One store's part of a purge: the gateway route that fronts it, the dataset it keeps, and the records it removed.</summary>
public sealed record PurgedData(string Store, string? Dataset, long Records);
