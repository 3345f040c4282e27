namespace GovernanceLedger.Contracts.Policies;

/// <summary>
/// A policy file's content entered the ledger. Versions count up per policy id each time the
/// content hash changes, so every decision can name exactly what was enforced.
/// </summary>
public sealed record PolicyPublished(
    string PolicyId, int Version, string ContentHash, string Title, string Effect, string Source,
    string Author, DateTimeOffset At);

public static class PolicyOutcomes
{
    public const string Pass = "pass";
    public const string Deny = "deny";
    public const string Review = "review";
    public const string TwoApprovers = "two_approvers";
    /// <summary>A detector's effect: hold the app's rate down for a while.</summary>
    public const string Throttle = "throttle";
    /// <summary>A detector's effect: pause the app at once (a security pause, lifted by a reviewer).</summary>
    public const string Pause = "pause";
    /// <summary>A detector's effect: record the anomaly and tell the owner and security, without slowing the app.</summary>
    public const string Alert = "alert";
    /// <summary>A reveal policy's effect: personal data stays masked until the end user steps up as the findings say.</summary>
    public const string Mask = "mask";
}

/// <summary>A policy file was removed; from now on it no longer decides anything.</summary>
public sealed record PolicyWithdrawn(string PolicyId, int LastVersion, string Author, DateTimeOffset At);
