namespace GovernanceLedger.Audit;

/// <summary>The "Audit" section: where checkpoints are witnessed, how often, and whether checkpoints carry a Merkle root.</summary>
public sealed class AuditSettings
{
    /// <summary>Required outside Development (one directory per ledger, shared by its instances); run.sh sets /var/tmp/govledger/witness.</summary>
    public string WitnessDirectory { get; set; } = "";
    public int CheckpointEvery { get; set; } = 1000;
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>A hole in the sequence younger than this may be a transaction still committing; older holes are rollbacks.</summary>
    public TimeSpan GapPatience { get; set; } = TimeSpan.FromSeconds(3);
    /// <summary>
    /// The shortest time from one pass of the chainer to the next while events keep arriving. A pass costs a read, a
    /// transaction and a commit whatever it holds: under load, fewer and larger passes cost the ledger less (the chain,
    /// proofs and the audit stream then trail the ledger by up to this much more). Zero chains every commit at once.
    /// </summary>
    public TimeSpan ChainPace { get; set; } = TimeSpan.FromMilliseconds(25);
    /// <summary>
    /// The most characters of event data one page of an audit read (timeline, denials, access search) carries: a page ends
    /// early, with its cursor, once the next event would pass it (a page always holds at least one event). An event of
    /// accesses committed together is up to about 20 KB, so a page of the largest limit would otherwise run to 100 MB.
    /// </summary>
    public int MaxPageChars { get; set; } = 8 * 1024 * 1024;
    /// <summary>On by default; off only to measure what the tree costs (proofs then have no root to prove against).</summary>
    public bool MerkleTree { get; set; } = true;
}
