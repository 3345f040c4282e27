using System.Security.Cryptography;
using GovernanceLedger.Audit.Merkle;

namespace GovernanceLedger.Tests.Audit;

/// <summary>The RFC 9162 tree as pure functions: roots, inclusion and consistency proofs, against a naive recomputation.</summary>
public sealed class Merkle_tree_tests
{
    private static List<byte[]> Leaves(int n) =>
        Enumerable.Range(0, n).Select(i => MerkleTree.LeafHash(SHA256.HashData(BitConverter.GetBytes(i)))).ToList();

    [Fact]
    public void The_growing_edge_gives_the_same_root_as_the_recursive_definition_at_every_size()
    {
        var leaves = Leaves(300);
        var frontier = new MerkleFrontier();
        MerkleTree.Root(leaves, 0, 0).ShouldBe(MerkleTree.EmptyRoot);
        for (var n = 1; n <= leaves.Count; n++)
        {
            frontier.Append(leaves[n - 1]);
            frontier.Root().ShouldBe(MerkleTree.Root(leaves, 0, n), $"size {n}");
        }
    }

    [Fact]
    public void Every_inclusion_proof_of_every_small_tree_verifies_and_a_wrong_leaf_does_not()
    {
        var leaves = Leaves(70);
        for (var n = 1; n <= leaves.Count; n++)
        {
            var root = MerkleTree.Root(leaves, 0, n);
            for (var m = 0; m < n; m++)
            {
                var path = MerkleTree.InclusionRanges(m, n).Select(r => MerkleTree.Root(leaves, r.Start, r.End)).ToList();
                MerkleTree.VerifyInclusion(m, n, leaves[m], path, root).ShouldBeTrue($"leaf {m} of {n}");
                MerkleTree.VerifyInclusion(m, n, leaves[(m + 1) % leaves.Count], path, root).ShouldBe(n == 1 && leaves.Count == 1, $"wrong leaf {m} of {n}");
            }
        }
    }

    [Fact]
    public void Every_consistency_proof_between_small_trees_verifies_and_a_rewritten_past_does_not()
    {
        var leaves = Leaves(40);
        for (var n = 2; n <= leaves.Count; n++)
            for (var m = 1; m < n; m++)
            {
                var proof = MerkleTree.ConsistencyRanges(m, n).Select(r => MerkleTree.Root(leaves, r.Start, r.End)).ToList();
                var (first, second) = (MerkleTree.Root(leaves, 0, m), MerkleTree.Root(leaves, 0, n));
                MerkleTree.VerifyConsistency(m, n, first, second, proof).ShouldBeTrue($"{m} -> {n}");
                var rewritten = leaves.ToList();
                rewritten[0] = leaves[1];
                MerkleTree.VerifyConsistency(m, n, MerkleTree.Root(rewritten, 0, m), second, proof).ShouldBeFalse($"rewritten {m} -> {n}");
            }
    }

    [Fact]
    public void Stored_subtree_levels_and_indexes_are_those_the_edge_reports_finished()
    {
        var leaves = Leaves(1100);
        var frontier = new MerkleFrontier();
        var finished = new Dictionary<(int, long), byte[]>();
        foreach (var leaf in leaves) frontier.Append(leaf, (level, index, hash) => finished[(level, index)] = hash);
        foreach (var ((level, index), hash) in finished)
            hash.ShouldBe(MerkleTree.Root(leaves, index << level, (index + 1) << level), $"node {level}/{index}");
        finished.Keys.Count(k => k.Item1 >= 8).ShouldBe(1100 / 256 + 1100 / 512 + 1100 / 1024);
        var parts = MerkleFrontier.Decompose(1100);
        MerkleFrontier.FromSubtrees(1100, parts.Select(p => MerkleTree.Root(leaves, p.Index << p.Level, (p.Index + 1) << p.Level)).ToList())
            .Root().ShouldBe(MerkleTree.Root(leaves, 0, 1100));
    }

    [Fact]
    public void The_fast_sha256_agrees_with_dotnets_for_every_length_and_is_used_on_linux()
    {
        if (OperatingSystem.IsLinux()) GovernanceLedger.Audit.Sha256.Native.ShouldBeTrue("libcrypto's SHA256_Init/Update/Final should be found on Linux");
        var data = new byte[1100];
        new Random(3).NextBytes(data);
        for (var length = 0; length <= data.Length; length++)
            GovernanceLedger.Audit.Sha256.Hash(data.AsSpan(0, length)).ShouldBe(SHA256.HashData(data.AsSpan(0, length)), $"length {length}");
    }
}
