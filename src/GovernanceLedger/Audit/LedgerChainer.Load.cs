using GovernanceLedger.Audit.Checkpoints;
using GovernanceLedger.Audit.Merkle;
using Npgsql;

namespace GovernanceLedger.Audit;

public sealed partial class LedgerChainer
{
    /// <summary>
    /// Takes the head from the database, but only after checking it against the latest witnessed
    /// checkpoint: a chain that ends below it was truncated, and one whose link there differs was
    /// rewritten. Either halts chaining, because continuing would record the deleted sequence numbers
    /// as holes and sign the rewrite.
    /// </summary>
    private async Task LoadAsync(CancellationToken ct)
    {
        var source = ledger.Source;
        long head = 0;
        var headLink = HashChain.Genesis;
        await using (var command = source.CreateCommand($"select seq_id, link from {S}.chain_links order by seq_id desc limit 1"))
        await using (var reader = await command.ExecuteReaderAsync(ct))
            if (await reader.ReadAsync(ct))
            {
                head = reader.GetInt64(0);
                headLink = reader.GetFieldValue<byte[]>(1);
            }

        long witnessed = 0;
        if (await witness.LatestAsync(ct) is { } latest)
        {
            var statement = CheckpointJws.Read(latest.Jws)?.Statement
                ?? throw new ChainHaltedException($"The latest checkpoint in the witness at {witness.Location} is not a readable checkpoint JWS.");
            if (head < latest.TreeSize)
                throw new ChainHaltedException(
                    $"The chain ends at sequence {head}, but the witness holds a checkpoint of the ledger up to {latest.TreeSize}: " +
                    $"sequences {head + 1}..{latest.TreeSize} were deleted (tail truncated).");
            await using var linkAt = source.CreateCommand($"select link from {S}.chain_links where seq_id = $1");
            linkAt.Parameters.Add(new NpgsqlParameter { Value = latest.TreeSize });
            var recorded = await linkAt.ExecuteScalarAsync(ct) as byte[];
            if (recorded is null || Convert.ToHexStringLower(recorded) != statement.Link)
                throw new ChainHaltedException(
                    $"The chain's link at sequence {latest.TreeSize} differs from the witnessed checkpoint: the chain up to it was rewritten or cut.");
            witnessed = latest.TreeSize;
        }

        // What was chained after the last witnessed checkpoint is trusted as the database has it: the
        // window a restart cannot vouch for is one checkpoint interval.
        var pending = new LeafBuffer();
        long since = 0;
        await using (var command = source.CreateCommand($"select seq_id, content_hash, kind from {S}.chain_links where seq_id > $1 order by seq_id"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = witnessed });
            await using var reader = await command.ExecuteReaderAsync(ct);
            var expected = witnessed + 1;
            while (await reader.ReadAsync(ct))
            {
                var sequence = reader.GetInt64(0);
                for (; expected < sequence; expected++)
                {
                    logger.LogWarning("Sequence {Sequence} has no chain link; it counts as a hole in the next checkpoint", expected);
                    pending.Add(HashChain.HoleContentHash(expected));
                }
                pending.Add(reader.GetFieldValue<byte[]>(1));
                if (reader.GetString(2) != "checkpoint") since++;
                expected = sequence + 1;
            }
        }

        _frontier = settings.MerkleTree ? await LoadFrontierAsync(head, ct) : null;
        _last = head;
        _lastLink = headLink;
        _witnessed = witnessed;
        _pending = pending;
        _sinceCheckpoint = since;
        // Checkpoint as soon as anything new is chained: what a restart cannot vouch for stays small.
        _lastCheckpoint = DateTimeOffset.MinValue;
        // A checkpoint witnessed but not yet appended (the database was away) is still owed to the ledger.
        if (_unappended?.UpToSequence != witnessed) _unappended = null;
        _gap = null;
        logger.LogInformation("Chain head {Head}, witnessed up to {Witnessed} at {Witness}", head, witnessed, witness.Location);
    }

    /// <summary>
    /// The tree's right edge at the head: stored nodes for the big subtrees, leaves for the last
    /// partial block. Without stored nodes (a ledger chained before the tree existed) the tree is
    /// built once from every content hash.
    /// </summary>
    private async Task<MerkleFrontier> LoadFrontierAsync(long head, CancellationToken ct)
    {
        var parts = MerkleFrontier.Decompose(head);
        var stored = await MerkleProofs.NodesAsync(ledger.Source, parts.Where(p => p.Level >= ChainSchema.StoredLevel), ct);
        if (parts.Any(p => p.Level >= ChainSchema.StoredLevel && !stored.ContainsKey(p)))
            return await RebuildTreeAsync(head, ct);
        var subtrees = await MerkleProofs.SubtreeHashesAsync(ledger.Source,
            parts.Select(p => (p.Index << p.Level, (p.Index + 1) << p.Level)).ToList(), ct);
        return MerkleFrontier.FromSubtrees(head, subtrees);
    }

    private async Task<MerkleFrontier> RebuildTreeAsync(long head, CancellationToken ct)
    {
        logger.LogInformation("Building the Merkle tree over {Head} chained sequence numbers", head);
        var frontier = new MerkleFrontier();
        var levels = new List<short>();
        var indexes = new List<long>();
        var hashes = new List<byte[]>();
        await using var connection = await ledger.Source.OpenConnectionAsync(ct);
        await using (var command = new NpgsqlCommand($"select seq_id, content_hash from {S}.chain_links where seq_id <= $1 order by seq_id", connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = head });
            await using var reader = await command.ExecuteReaderAsync(ct);
            var expected = 1L;
            while (await reader.ReadAsync(ct))
            {
                var sequence = reader.GetInt64(0);
                // A ledger chained before holes were recorded has no rows for them; they are holes in the tree.
                for (; expected < sequence; expected++) Add(HashChain.HoleContentHash(expected));
                Add(reader.GetFieldValue<byte[]>(1));
                expected = sequence + 1;
            }
        }
        await InsertNodesAsync(connection, null, levels, indexes, hashes, ct);
        return frontier;

        void Add(byte[] content) => frontier.Append(MerkleTree.LeafHash(content), (level, index, hash) =>
        {
            if (level < ChainSchema.StoredLevel) return;
            levels.Add((short)level);
            indexes.Add(index);
            hashes.Add(hash);
        });
    }
}
