using System.Numerics;
using GovernanceLedger.Infrastructure;
using Npgsql;

namespace GovernanceLedger.Audit.Merkle;

/// <summary>
/// Subtree hashes for proofs, from the database: a range that is a complete aligned subtree of
/// 2^8 leaves or more is one stored node (merkle_nodes); anything smaller is hashed from the chain's
/// content hashes. Whatever is asked, that is one query for nodes and one for leaves. The hashes are
/// not trusted: a proof built from tampered rows simply fails against the signed root.
/// </summary>
public static class MerkleProofs
{
    private const string S = LedgerSetup.Schema;
    private const long Block = 1L << ChainSchema.StoredLevel;

    /// <summary>MTH of each leaf range [start, end) (leaf i is sequence i+1), in the order asked.</summary>
    public static async Task<List<byte[]>> SubtreeHashesAsync(NpgsqlDataSource source, IReadOnlyList<(long Start, long End)> ranges, CancellationToken ct)
    {
        var nodes = new List<(int Level, long Index)>();
        var leafRanges = new List<(long Start, long End)>();
        foreach (var (start, end) in ranges) Plan(start, end, nodes, leafRanges);
        // Two independent reads on two connections at once: a proof costs one round trip, not two.
        var storedTask = NodesAsync(source, nodes, ct);
        var leavesTask = LeafHashesAsync(source, leafRanges, ct);
        var (stored, leaves) = (await storedTask, await leavesTask);
        foreach (var missing in nodes.Where(n => !stored.ContainsKey(n)))
            throw new InvalidOperationException($"Merkle node (level {missing.Level}, index {missing.Index}) is not stored: the tree is incomplete.");
        return ranges.Select(r => Hash(r.Start, r.End, stored, leaves)).ToList();
    }

    private static void Plan(long start, long end, List<(int, long)> nodes, List<(long, long)> leaves)
    {
        var size = end - start;
        if (size >= Block && BitOperations.IsPow2(size) && start % size == 0) nodes.Add((BitOperations.Log2((ulong)size), start / size));
        else if (size < Block) leaves.Add((start, end));
        else
        {
            var k = MerkleTree.Split(size);
            Plan(start, start + k, nodes, leaves);
            Plan(start + k, end, nodes, leaves);
        }
    }

    private static byte[] Hash(long start, long end, IReadOnlyDictionary<(int, long), byte[]> nodes, IReadOnlyDictionary<long, byte[]> leaves)
    {
        var size = end - start;
        if (size == 1) return leaves[start];
        if (size >= Block && BitOperations.IsPow2(size) && start % size == 0) return nodes[(BitOperations.Log2((ulong)size), start / size)];
        var k = MerkleTree.Split(size);
        return MerkleTree.NodeHash(Hash(start, start + k, nodes, leaves), Hash(start + k, end, nodes, leaves));
    }

    public static async Task<Dictionary<(int Level, long Index), byte[]>> NodesAsync(
        NpgsqlDataSource source, IEnumerable<(int Level, long Index)> wanted, CancellationToken ct)
    {
        var list = wanted.Distinct().ToList();
        var found = new Dictionary<(int, long), byte[]>();
        if (list.Count == 0) return found;
        await using var command = source.CreateCommand(
            $"select n.level, n.idx, n.hash from {S}.merkle_nodes n join unnest($1::smallint[], $2::bigint[]) w(level, idx) on n.level = w.level and n.idx = w.idx");
        command.Parameters.Add(new NpgsqlParameter { Value = list.Select(n => (short)n.Level).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { Value = list.Select(n => n.Index).ToArray() });
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) found[(reader.GetInt16(0), reader.GetInt64(1))] = reader.GetFieldValue<byte[]>(2);
        return found;
    }

    /// <summary>Leaf hashes by leaf index for the ranges; a sequence without a chain row counts as a hole, as the chainer counted it.</summary>
    public static async Task<Dictionary<long, byte[]>> LeafHashesAsync(NpgsqlDataSource source, IReadOnlyList<(long Start, long End)> ranges, CancellationToken ct)
    {
        var leaves = new Dictionary<long, byte[]>();
        if (ranges.Count == 0) return leaves;
        await using (var command = source.CreateCommand(
            $"select l.seq_id, l.content_hash from {S}.chain_links l join unnest($1::bigint[], $2::bigint[]) r(a, b) on l.seq_id > r.a and l.seq_id <= r.b"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = ranges.Select(r => r.Start).ToArray() });
            command.Parameters.Add(new NpgsqlParameter { Value = ranges.Select(r => r.End).ToArray() });
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) leaves[reader.GetInt64(0) - 1] = MerkleTree.LeafHash(reader.GetFieldValue<byte[]>(1));
        }
        foreach (var (start, end) in ranges)
            for (var i = start; i < end; i++)
                if (!leaves.ContainsKey(i)) leaves[i] = MerkleTree.LeafHash(HashChain.HoleContentHash(i + 1));
        return leaves;
    }
}
