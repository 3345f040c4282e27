namespace GovernanceLedger.Audit.Merkle;

/// <summary>
/// The right edge of a growing Merkle tree: one complete subtree hash per set bit of its size,
/// largest first. Appending a leaf merges equal-sized subtrees (reporting each finished node, which
/// the chainer stores for proofs); the root folds the edge from the right. O(log n) memory.
/// </summary>
public sealed class MerkleFrontier
{
    private readonly List<byte[]> _subtrees;

    public MerkleFrontier() : this(0, []) { }

    private MerkleFrontier(long size, List<byte[]> subtrees)
    {
        Size = size;
        _subtrees = subtrees;
    }

    public long Size { get; private set; }

    /// <summary>The (level, index) of each complete subtree that makes up a tree of the given size, left to right.</summary>
    public static List<(int Level, long Index)> Decompose(long size)
    {
        var parts = new List<(int, long)>();
        long start = 0;
        for (var level = 62; level >= 0; level--)
        {
            if ((size & (1L << level)) == 0) continue;
            parts.Add((level, start >> level));
            start += 1L << level;
        }
        return parts;
    }

    /// <summary>Rebuilds the edge of a tree of <paramref name="size"/> leaves from its subtree hashes (as <see cref="Decompose"/> lists them).</summary>
    public static MerkleFrontier FromSubtrees(long size, IReadOnlyList<byte[]> subtrees)
    {
        if (subtrees.Count != Decompose(size).Count) throw new ArgumentException($"a tree of {size} leaves has {Decompose(size).Count} edge subtrees, not {subtrees.Count}");
        return new MerkleFrontier(size, subtrees.Select(s => s.ToArray()).ToList());
    }

    public MerkleFrontier Clone() => new(Size, [.. _subtrees]);

    /// <summary>Appends a leaf hash; <paramref name="finished"/> sees every node completed by it (level &gt;= 1, index within its level).</summary>
    public void Append(byte[] leafHash, Action<int, long, byte[]>? finished = null)
    {
        var hash = leafHash;
        var position = Size;
        var level = 0;
        while ((position & 1) == 1)
        {
            hash = MerkleTree.NodeHash(_subtrees[^1], hash);
            _subtrees.RemoveAt(_subtrees.Count - 1);
            position >>= 1;
            level++;
            finished?.Invoke(level, position, hash);
        }
        _subtrees.Add(hash);
        Size++;
    }

    public byte[] Root()
    {
        if (Size == 0) return MerkleTree.EmptyRoot;
        var root = _subtrees[^1];
        for (var i = _subtrees.Count - 2; i >= 0; i--) root = MerkleTree.NodeHash(_subtrees[i], root);
        return root;
    }
}
