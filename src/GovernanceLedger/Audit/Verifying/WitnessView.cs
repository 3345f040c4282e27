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
    private WitnessView(string location, long treeSize, byte[] leaves, IReadOnlyDictionary<long, (WitnessedCheckpoint Checkpoint, CheckpointStatement Statement)> checkpoints)
    {
        Location = location;
        TreeSize = treeSize;
        _leaves = leaves;
        Checkpoints = checkpoints;
    }

    private readonly byte[] _leaves;
    public string Location { get; }
    public long TreeSize { get; }
    public IReadOnlyDictionary<long, (WitnessedCheckpoint Checkpoint, CheckpointStatement Statement)> Checkpoints { get; }

    /// <summary>The witnessed content hash of a sequence in 1..TreeSize.</summary>
    public ReadOnlySpan<byte> Leaf(long sequence) => _leaves.AsSpan(checked((int)((sequence - 1) * 32)), 32);

    public static async Task<WitnessView> LoadAsync(IChainWitness witness, SigningKeys keys, ProblemList problems, CancellationToken ct)
    {
        IReadOnlyList<WitnessedCheckpoint> files;
        try
        {
            files = await witness.ReadAllAsync(ct);
        }
        catch (InvalidDataException e)
        {
            problems.Add(0, "witness-unreadable", e.Message);
            return new WitnessView(witness.Location, 0, [], new Dictionary<long, (WitnessedCheckpoint, CheckpointStatement)>());
        }

        var accepted = new List<(WitnessedCheckpoint Checkpoint, CheckpointStatement Statement)>();
        long previous = 0;
        foreach (var file in files)
        {
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
            accepted.Add((file, read.Statement));
            previous = file.TreeSize;
        }

        var leaves = new byte[previous * 32];
        foreach (var (file, _) in accepted) file.Leaves.CopyTo(leaves, file.PreviousTreeSize * 32);
        var valid = CheckRoots(leaves, accepted, problems);
        var size = valid.Count == 0 ? 0 : valid[^1].Checkpoint.TreeSize;
        return new WitnessView(witness.Location, size, leaves.AsSpan(0, (int)(size * 32)).ToArray(),
            valid.ToDictionary(c => c.Checkpoint.TreeSize));
    }

    /// <summary>Recomputes the tree over all witnessed leaves (level by level, in parallel) and checks every signed root.</summary>
    private static List<(WitnessedCheckpoint Checkpoint, CheckpointStatement Statement)> CheckRoots(
        byte[] leaves, List<(WitnessedCheckpoint Checkpoint, CheckpointStatement Statement)> accepted, ProblemList problems)
    {
        if (accepted.All(c => c.Statement.Root is null)) return accepted;
        var levels = ParallelTree.Levels(leaves);
        var valid = new List<(WitnessedCheckpoint, CheckpointStatement)>();
        foreach (var checkpoint in accepted)
        {
            if (checkpoint.Statement.Root is { } root && Convert.ToHexStringLower(ParallelTree.Root(levels, checkpoint.Checkpoint.TreeSize)) != root)
            {
                problems.Add(checkpoint.Checkpoint.TreeSize, "witness-invalid",
                    $"The leaves witnessed up to {checkpoint.Checkpoint.TreeSize} do not hash to the Merkle root that checkpoint signed.");
                break;
            }
            valid.Add(checkpoint);
        }
        return valid;
    }
}

/// <summary>A whole Merkle tree in memory, built level by level with every core: the roots of all its prefixes come from it cheaply.</summary>
public static class ParallelTree
{
    public static List<byte[]> Levels(byte[] contents)
    {
        var count = contents.Length / 32;
        var level = new byte[count * 32];
        Parallel.For(0, (count + 4095) / 4096, chunk =>
        {
            for (var i = chunk * 4096; i < Math.Min(count, (chunk + 1) * 4096); i++)
                MerkleTree.LeafHash(contents.AsSpan(i * 32, 32), level.AsSpan(i * 32, 32));
        });
        var levels = new List<byte[]> { level };
        while (count > 1)
        {
            var below = levels[^1];
            count /= 2;
            var above = new byte[count * 32];
            Parallel.For(0, (count + 4095) / 4096, chunk =>
            {
                for (var i = chunk * 4096; i < Math.Min(count, (chunk + 1) * 4096); i++)
                    MerkleTree.NodeHash(below.AsSpan(i * 64, 32), below.AsSpan(i * 64 + 32, 32)).CopyTo(above, i * 32);
            });
            levels.Add(above);
        }
        return levels;
    }

    /// <summary>The root of the first <paramref name="size"/> leaves: its edge subtrees are complete, aligned nodes of the levels.</summary>
    public static byte[] Root(List<byte[]> levels, long size)
    {
        if (size == 0) return MerkleTree.EmptyRoot;
        var parts = MerkleFrontier.Decompose(size);
        var nodes = parts.Select(p => levels[p.Level].AsSpan((int)(p.Index * 32), 32).ToArray()).ToList();
        var root = nodes[^1];
        for (var i = nodes.Count - 2; i >= 0; i--) root = MerkleTree.NodeHash(nodes[i], root);
        return root;
    }
}
