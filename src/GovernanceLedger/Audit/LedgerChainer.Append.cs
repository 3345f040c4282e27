using GovernanceLedger.Audit.Merkle;
using Npgsql;

namespace GovernanceLedger.Audit;

public sealed partial class LedgerChainer
{
    /// <summary>Links the entries, grows the tree, and stores both in one transaction; memory moves only after the commit.</summary>
    private async Task AppendAsync(List<Entry> entries, CancellationToken ct)
    {
        var count = entries.Count;
        var seqs = new long[count];
        var contents = new byte[count][];
        var links = new byte[count][];
        var kinds = new string[count];
        var frontier = _frontier?.Clone();
        var nodeLevels = new List<short>();
        var nodeIndexes = new List<long>();
        var nodeHashes = new List<byte[]>();
        var link = _lastLink;
        for (var i = 0; i < count; i++)
        {
            var e = entries[i];
            seqs[i] = e.Sequence;
            contents[i] = e.Content;
            links[i] = link = HashChain.Link(link, e.Content);
            kinds[i] = e.Kind;
            frontier?.Append(MerkleTree.LeafHash(e.Content), (level, index, hash) =>
            {
                if (level < ChainSchema.StoredLevel) return;
                nodeLevels.Add((short)level);
                nodeIndexes.Add(index);
                nodeHashes.Add(hash);
            });
        }

        await using (var connection = await ledger.Chain.OpenConnectionAsync(ct))
        await using (var transaction = await connection.BeginTransactionAsync(ct))
        {
            await using (var insert = new NpgsqlCommand(
                $"insert into {S}.chain_links (seq_id, content_hash, link, kind, format) select *, {HashChain.CurrentFormat} from unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[])",
                connection, transaction))
            {
                insert.Parameters.Add(new NpgsqlParameter { Value = seqs });
                insert.Parameters.Add(new NpgsqlParameter { Value = contents });
                insert.Parameters.Add(new NpgsqlParameter { Value = links });
                insert.Parameters.Add(new NpgsqlParameter { Value = kinds });
                await insert.ExecuteNonQueryAsync(ct);
            }
            if (nodeLevels.Count > 0) await InsertNodesAsync(connection, transaction, nodeLevels, nodeIndexes, nodeHashes, ct);
            await transaction.CommitAsync(ct);
        }

        foreach (var e in entries)
        {
            _pending.Add(e.Content);
            if (e.Kind != "checkpoint") _sinceCheckpoint++;
        }
        _frontier = frontier;
        _lastLink = link;
        Volatile.Write(ref _last, seqs[^1]);
        var holes = entries.Count(e => e.Kind == "hole");
        if (holes > 0) logger.LogInformation("Recorded {Holes} holes (rolled-back sequence numbers) in the chain up to {Sequence}", holes, seqs[^1]);
    }

    private static async Task InsertNodesAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction,
        List<short> levels, List<long> indexes, List<byte[]> hashes, CancellationToken ct)
    {
        // "on conflict do nothing": a rebuild after an upgrade may meet nodes an earlier run already stored.
        await using var nodes = new NpgsqlCommand(
            $"insert into {S}.merkle_nodes (level, idx, hash) select * from unnest($1::smallint[], $2::bigint[], $3::bytea[]) on conflict do nothing",
            connection, transaction);
        nodes.Parameters.Add(new NpgsqlParameter { Value = levels.ToArray() });
        nodes.Parameters.Add(new NpgsqlParameter { Value = indexes.ToArray() });
        nodes.Parameters.Add(new NpgsqlParameter { Value = hashes.ToArray() });
        await nodes.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Content hashes since the last witnessed checkpoint, 32 bytes each, in sequence order.</summary>
    private sealed class LeafBuffer
    {
        private byte[] _bytes = new byte[32 * 1024];
        public int Count { get; private set; }

        public void Add(ReadOnlySpan<byte> content)
        {
            if ((Count + 1) * 32 > _bytes.Length) Array.Resize(ref _bytes, _bytes.Length * 2);
            content.CopyTo(_bytes.AsSpan(Count * 32));
            Count++;
        }

        public byte[] ToArray() => _bytes.AsSpan(0, Count * 32).ToArray();
    }
}
