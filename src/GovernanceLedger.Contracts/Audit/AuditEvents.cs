namespace GovernanceLedger.Contracts.Audit;

/// <summary>
/// A signed statement of the hash chain's head: every event up to UpToSequence hashes to LinkHash.
/// The signature (RS256 over "{UpToSequence}|{LinkHash}") is checkable with the ledger's JWKS.
/// Since key custody moved out of the database, checkpoints also carry TreeRoot, the RFC 9162 Merkle
/// tree head over sequences 1..UpToSequence (null when the tree is switched off), and Jws, the compact
/// JWS (RS256, checkpoint key) over {tree_size, root, link, previous_tree_size, at} that is also
/// written to the witnesses outside the database. Checkpoints without Jws predate that change.
/// </summary>
public sealed record ChainCheckpointed(
    long UpToSequence, string LinkHash, string KeyId, string Signature, long EventsCovered, DateTimeOffset At,
    string? TreeRoot = null, string? Jws = null);
