namespace GovernanceLedger.Contracts.Security;

/// <summary>
/// A signing key began signing. Only the public half is in the ledger; the private half lives in the
/// key store outside the database. Purpose is "app-tokens" or "checkpoints" (null: a key from before
/// purposes were separated, which signed both).
/// </summary>
public sealed record SigningKeyActivated(string KeyId, string Algorithm, string PublicJwk, string Actor, DateTimeOffset At, string? Purpose = null);

/// <summary>A key stopped signing; it stays published until tokens it signed have expired.</summary>
public sealed record SigningKeyRetired(string KeyId, DateTimeOffset PublishedUntil, string Actor, DateTimeOffset At, string? Purpose = null, string? Reason = null);
