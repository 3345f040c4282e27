namespace GovernanceLedger.Contracts.Apps;

/// <summary>The lifecycle states an app moves through; the strings are part of the public API.</summary>
public static class AppStatus
{
    public const string PendingReview = "pending_review";
    public const string Active = "active";
    public const string Rejected = "rejected";
    public const string Paused = "paused";
    public const string Expired = "expired";
    public const string Retired = "retired";
}
