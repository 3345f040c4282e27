using System.Numerics;
using System.Security.Cryptography;

namespace GovernanceLedger.Audit.Merkle;

/// <summary>
/// RFC 9162 (Certificate Transparency 2.0) Merkle trees, as pure functions. Leaf i is sequence i+1,
/// its input the chain's content hash; leaf hash = SHA-256(0x00 || content), node = SHA-256(0x01 ||
/// left || right). Proofs are described as the subtree ranges [start, end) whose hashes they carry,
/// so the caller decides where those hashes come from (stored nodes, leaves, memory).
/// </summary>
public static class MerkleTree
{
    public static readonly byte[] EmptyRoot = SHA256.HashData([]);

    public static byte[] LeafHash(ReadOnlySpan<byte> content)
    {
        var hash = new byte[32];
        LeafHash(content, hash);
        return hash;
    }

    public static void LeafHash(ReadOnlySpan<byte> content, Span<byte> destination)
    {
        Span<byte> buffer = content.Length < 256 ? stackalloc byte[content.Length + 1] : new byte[content.Length + 1];
        buffer[0] = 0;
        content.CopyTo(buffer[1..]);
        Sha256.Hash(buffer, destination);
    }

    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var hash = new byte[32];
        NodeHash(left, right, hash);
        return hash;
    }

    public static void NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right, Span<byte> destination)
    {
        Span<byte> buffer = stackalloc byte[65];
        buffer[0] = 1;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[33..]);
        Sha256.Hash(buffer, destination);
    }

    /// <summary>The largest power of two strictly below n (n &gt; 1): where RFC 9162 splits a tree.</summary>
    public static long Split(long n) => 1L << (63 - BitOperations.LeadingZeroCount((ulong)(n - 1)));

    /// <summary>MTH over leaf hashes [start, end) held in memory (tests, witness checks, small ranges).</summary>
    public static byte[] Root(IReadOnlyList<byte[]> leafHashes, long start, long end)
    {
        if (end == start) return EmptyRoot;
        if (end - start == 1) return leafHashes[(int)start];
        var k = Split(end - start);
        return NodeHash(Root(leafHashes, start, start + k), Root(leafHashes, start + k, end));
    }

    /// <summary>PATH(m, D[0:n]) of RFC 9162 2.1.3.1: the ranges whose hashes form the inclusion proof, nearest sibling first.</summary>
    public static List<(long Start, long End)> InclusionRanges(long index, long size)
    {
        if (index < 0 || index >= size) throw new ArgumentOutOfRangeException(nameof(index), $"leaf {index} is not in a tree of {size}");
        var ranges = new List<(long, long)>();
        Path(index, 0, size, ranges);
        return ranges;
    }

    private static void Path(long m, long start, long end, List<(long, long)> ranges)
    {
        if (end - start == 1) return;
        var k = Split(end - start);
        if (m < start + k)
        {
            Path(m, start, start + k, ranges);
            ranges.Add((start + k, end));
        }
        else
        {
            Path(m, start + k, end, ranges);
            ranges.Add((start, start + k));
        }
    }

    /// <summary>PROOF(m, D[0:n]) of RFC 9162 2.1.4.1 for 0 &lt; m &lt; n: the ranges of the consistency proof.</summary>
    public static List<(long Start, long End)> ConsistencyRanges(long m, long n)
    {
        if (m <= 0 || m >= n) throw new ArgumentOutOfRangeException(nameof(m), $"a consistency proof needs 0 < {m} < {n}");
        var ranges = new List<(long, long)>();
        SubProof(m, 0, n, true, ranges);
        return ranges;
    }

    private static void SubProof(long m, long start, long end, bool complete, List<(long, long)> ranges)
    {
        var n = end - start;
        if (m == n)
        {
            if (!complete) ranges.Add((start, end));
            return;
        }
        var k = Split(n);
        if (m <= k)
        {
            SubProof(m, start, start + k, complete, ranges);
            ranges.Add((start + k, end));
        }
        else
        {
            SubProof(m - k, start + k, end, false, ranges);
            ranges.Add((start, start + k));
        }
    }

    /// <summary>RFC 9162 2.1.3.2: does the audit path lead from the leaf hash to the root?</summary>
    public static bool VerifyInclusion(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> path, ReadOnlySpan<byte> root)
    {
        if (index < 0 || index >= size) return false;
        long fn = index, sn = size - 1;
        var r = leafHash.ToArray();
        foreach (var p in path)
        {
            if (sn == 0) return false;
            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                if ((fn & 1) == 0)
                    while ((fn & 1) == 0 && fn != 0) { fn >>= 1; sn >>= 1; }
            }
            else
            {
                r = NodeHash(r, p);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r.AsSpan().SequenceEqual(root);
    }

    /// <summary>RFC 9162 2.1.4.2: is the tree of size <paramref name="second"/> an append-only extension of the one of size <paramref name="first"/>?</summary>
    public static bool VerifyConsistency(long first, long second, ReadOnlySpan<byte> firstRoot, ReadOnlySpan<byte> secondRoot, IReadOnlyList<byte[]> proof)
    {
        if (first == second) return proof.Count == 0 && firstRoot.SequenceEqual(secondRoot);
        if (first <= 0 || first > second || proof.Count == 0) return false;
        var path = new List<byte[]>(proof);
        if (BitOperations.IsPow2(first)) path.Insert(0, firstRoot.ToArray());
        long fn = first - 1, sn = second - 1;
        while ((fn & 1) == 1) { fn >>= 1; sn >>= 1; }
        byte[] fr = path[0], sr = path[0];
        foreach (var c in path.Skip(1))
        {
            if (sn == 0) return false;
            if ((fn & 1) == 1 || fn == sn)
            {
                fr = NodeHash(c, fr);
                sr = NodeHash(c, sr);
                if ((fn & 1) == 0)
                    while ((fn & 1) == 0 && fn != 0) { fn >>= 1; sn >>= 1; }
            }
            else
            {
                sr = NodeHash(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return fr.AsSpan().SequenceEqual(firstRoot) && sr.AsSpan().SequenceEqual(secondRoot) && sn == 0;
    }
}
