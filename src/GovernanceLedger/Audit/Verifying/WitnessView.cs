using GovernanceLedger.Audit.Checkpoints;
using GovernanceLedger.Audit.Merkle;
using GovernanceLedger.Audit.Witness;
using GovernanceLedger.Security;

namespace GovernanceLedger.Audit.Verifying;

/// <summary>
/// The witness as verify uses it: the content hash of every sequence 1..TreeSize, and the signed
/// statement of each checkpoint. Loading it checks the witness itself: every JWS verifies with a
/// checkpoint key from the key store, each checkpoint continues the one before, and the Merkle root
/// recomputed from the leaves equals the signed root. The part after the first defect is not used.
/// </summary>
public sealed class WitnessView
{
    private readonly long[] _ends;
    private readonly WitnessedCheckpoint[] _files;

    private WitnessView(string location, IReadOnlyList<(WitnessedCheckpoint Checkpoint, CheckpointStatement Statement)> accepted)
    {
        Location = location;
        _files = accepted.Select(c => c.Checkpoint).ToArray();
        _ends = _files.Select(f => f.TreeSize).ToArray();
        TreeSize = _ends.Length == 0 ? 0 : _ends[^1];
        Checkpoints = accepted.ToDictionary(c => c.Checkpoint.TreeSize);
    }

    public string Location { get; }
    public long TreeSize { get; }
    public IReadOnlyDictionary<long, (WitnessedCheckpoint Checkpoint, CheckpointStatement Statement)> Checkpoints { get; }

    /// <summary>The witnessed content hash of a sequence in 1..TreeSize, from the file that covers it (no one array: a ledger may outgrow 2 GB of leaves).</summary>
    public ReadOnlySpan<byte> Leaf(long sequence)
    {
        var index = Array.BinarySearch(_ends, sequence);
        return _files[index >= 0 ? index : ~index].Leaf(sequence);
    }

    public static async Task<WitnessView> LoadAsync(IChainWitness witness, SigningKeys keys, WitnessChecks checks, ProblemList problems, CancellationToken ct)
    {
        IReadOnlyList<WitnessedCheckpoint> files;
        try
        {
            files = await witness.ReadAllAsync(ct);
        }
        catch (InvalidDataException e)
        {
            problems.Add(0, "witness-unreadable", e.Message);
            return new WitnessView(witness.Location, []);
        }

        return new WitnessView(witness.Location, await checks.AcceptAsync(witness.Location, files, keys, problems, ct));
    }
}

/// <summary>
/// Checks witness files once per process: the files never change, so a file whose size, JWS and
/// leaves (by digest) equal one already checked needs neither its signature nor its part of the
/// tree checked again. Anything that differs is checked from there on, from the tree's edge as it
/// stood before that file.
/// </summary>
public sealed class WitnessChecks
{
    private sealed record Checked(long TreeSize, long PreviousTreeSize, string Jws, byte[] Digest, CheckpointStatement Statement, MerkleFrontier After);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, List<Checked>> _byLocation = [];

    public async Task<List<(WitnessedCheckpoint Checkpoint, CheckpointStatement Statement)>> AcceptAsync(
        string location, IReadOnlyList<WitnessedCheckpoint> files, SigningKeys keys, ProblemList problems, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (!_byLocation.TryGetValue(location, out var known)) _byLocation[location] = known = [];
            var accepted = new List<(WitnessedCheckpoint, CheckpointStatement)>();
            long previous = 0;
            for (var i = 0; i < files.Count; i++)
            {
                var file = files[i];
                var digest = Sha256.Hash(file.Leaves);
                if (i < known.Count && known[i] is var seen && seen.TreeSize == file.TreeSize && seen.PreviousTreeSize == file.PreviousTreeSize
                    && seen.Jws == file.Jws && seen.Digest.AsSpan().SequenceEqual(digest))
                {
                    accepted.Add((file, seen.Statement));
                    previous = file.TreeSize;
                    continue;
                }
                if (i < known.Count) known.RemoveRange(i, known.Count - i);   // a file changed: check it and all after it again

                if (file.PreviousTreeSize != previous)
                {
                    problems.Add(previous + 1, "witness-gap",
                        $"The witness has no checkpoint for sequences {previous + 1}..{file.PreviousTreeSize}: a witness file is missing.");
                    break;
                }
                if (CheckpointJws.Read(file.Jws) is not { } read || read.Statement.TreeSize != file.TreeSize || read.Statement.PreviousTreeSize != file.PreviousTreeSize)
                {
                    problems.Add(file.TreeSize, "witness-invalid", $"The witness file for tree size {file.TreeSize} does not hold a matching checkpoint JWS.");
                    break;
                }
                if (await keys.CheckpointKeyAsync(read.KeyId, ct) is not { } key || !CheckpointJws.SignatureValid(file.Jws, key))
                {
                    problems.Add(file.TreeSize, "witness-signature",
                        $"The witnessed checkpoint at {file.TreeSize} is not signed by checkpoint key {read.KeyId} of the key store.");
                    break;
                }
                var frontier = i == 0 ? new MerkleFrontier() : known[i - 1].After.Clone();
                for (var offset = 0; offset < file.Leaves.Length; offset += 32)
                    frontier.Append(MerkleTree.LeafHash(file.Leaves.AsSpan(offset, 32)));
                if (read.Statement.Root is { } root && Convert.ToHexStringLower(frontier.Root()) != root)
                {
                    problems.Add(file.TreeSize, "witness-invalid",
                        $"The leaves witnessed up to {file.TreeSize} do not hash to the Merkle root that checkpoint signed.");
                    break;
                }
                known.Add(new Checked(file.TreeSize, file.PreviousTreeSize, file.Jws, digest, read.Statement, frontier));
                accepted.Add((file, read.Statement));
                previous = file.TreeSize;
            }
            return accepted;
        }
        finally
        {
            _gate.Release();
        }
    }
}
