namespace GovernanceLedger.Contracts.Audit;

/// <summary>
/// A signed statement of the hash chain's head: every event up to UpToSequence hashes to LinkHash.
/// The signature (RS256 over "{UpToSequence}|{LinkHash}") is checkable with the ledger's JWKS.
/// </summary>
public sealed record ChainCheckpointed(long UpToSequence, string LinkHash, string KeyId, string Signature, long EventsCovered, DateTimeOffset At);
