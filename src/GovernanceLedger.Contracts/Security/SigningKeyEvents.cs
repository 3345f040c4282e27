namespace GovernanceLedger.Contracts.Security;

/// <summary>A signing key began signing app tokens. Only the public half is in the ledger.</summary>
public sealed record SigningKeyActivated(string KeyId, string Algorithm, string PublicJwk, string Actor, DateTimeOffset At);

/// <summary>A key stopped signing; it stays published until tokens it signed have expired.</summary>
public sealed record SigningKeyRetired(string KeyId, DateTimeOffset PublishedUntil, string Actor, DateTimeOffset At);
