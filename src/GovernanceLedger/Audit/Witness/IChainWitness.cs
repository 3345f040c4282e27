namespace GovernanceLedger.Audit.Witness;

/// <summary>
/// One signed checkpoint as a witness keeps it: the JWS, and the content hash of every sequence it
/// newly covers (PreviousTreeSize+1 .. TreeSize, 32 bytes each). With the leaves a witness is a
/// complete, self-checking record of the chain: verify names the exact sequence where the ledger
/// departs from it, and the Merkle root and link recomputed from the leaves must equal the signed ones.
/// </summary>
public sealed record WitnessedCheckpoint(long TreeSize, long PreviousTreeSize, string Jws, byte[] Leaves)
{
    public ReadOnlySpan<byte> Leaf(long sequence) => Leaves.AsSpan((int)(sequence - PreviousTreeSize - 1) * 32, 32);
}

/// <summary>
/// Somewhere outside the database's control that keeps every signed checkpoint: the chainer writes
/// each checkpoint to the witness before it appends it to the ledger, and verify reads them back.
/// The default is <see cref="DirectoryWitness"/>; the production choice is an object-lock bucket
/// (S3 Object Lock in compliance mode: PutObject with ObjectLockMode=COMPLIANCE and a retain-until
/// date, ListObjectsV2 and GetObject to read back), implemented against this interface.
/// </summary>
public interface IChainWitness
{
    /// <summary>Where the witness is, for reports and logs.</summary>
    string Location { get; }

    /// <summary>
    /// Records a checkpoint durably before returning. A checkpoint of the same tree size that is
    /// already there is returned instead (a retry after a crash); the caller compares it.
    /// </summary>
    Task<WitnessedCheckpoint> WitnessAsync(WitnessedCheckpoint checkpoint, CancellationToken ct);

    /// <summary>Every checkpoint witnessed, in tree-size order.</summary>
    Task<IReadOnlyList<WitnessedCheckpoint>> ReadAllAsync(CancellationToken ct);

    /// <summary>The latest checkpoint witnessed, or null before the first.</summary>
    Task<WitnessedCheckpoint?> LatestAsync(CancellationToken ct);
}
