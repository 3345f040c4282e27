using GovernanceLedger.Audit.Merkle;
using GovernanceLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Npgsql;
using Wolverine.Http;

namespace GovernanceLedger.Audit.Proofs;

/// <summary>The event a leaf hashes; format 2 adds its id, correlation id and causation id to what its content hash covers.</summary>
public sealed record ProvenEvent(string Stream, long Version, string Type, string Timestamp, string Data,
    short Format = 1, string? Id = null, string? CorrelationId = null, string? CausationId = null);

public sealed record InclusionProof(
    long Sequence, long LeafIndex, string Kind, ProvenEvent? Event, string ContentHash, string LeafHash,
    long TreeSize, string Root, IReadOnlyList<string> AuditPath, string Checkpoint);

/// <summary>
/// GET /audit/proof/{seq}?tree_size=: an RFC 9162 inclusion proof that the event at seq is leaf seq-1
/// of the tree whose root a signed checkpoint holds (the latest, or the one of tree_size). With the
/// event itself, its content hash is recomputable, so an auditor proves "event X was in the ledger
/// at checkpoint N" with SHA-256 and the JWKS, without the rest of the ledger.
/// </summary>
public static class ProveInclusion
{
    private const string S = LedgerSetup.Schema;

    [WolverineGet("/audit/proof/{seq}", OperationId = "proveInclusion"), Authorize(Policy = AuditSetup.AuditorPolicy)]
    [Tags("Audit")]
    public static async Task<IResult> Get(long seq, long? tree_size, LedgerDatabase ledger, CancellationToken ct)
    {
        if (seq < 1) return Problem.Invalid("seq", "minimum", "seq is a ledger sequence number, 1 or more.").ToResult();
        var head = await SignedHeads.FindAsync(ledger.Source, tree_size, ct);
        if (head is null)
            return tree_size is null
                ? Problem.Conflict("no-signed-head", "No checkpoint with a Merkle root has been signed yet; ask again after the first checkpoint.").ToResult()
                : Problem.Invalid("tree_size", "signed-checkpoint", $"No signed checkpoint has tree size {tree_size}.").ToResult();
        if (seq > head.TreeSize)
            return new Problem(StatusCodes.Status409Conflict, "https://governance-ledger.dev/problems/conflict", "Conflict",
                $"Sequence {seq} is after the checkpoint (tree size {head.TreeSize}); ask again after the next checkpoint.",
                [new Violation("seq", "not-yet-checkpointed", $"{seq} > {head.TreeSize}")]).ToResult();

        // The path and the leaf are read at once, on two connections.
        var pathTask = MerkleProofs.SubtreeHashesAsync(ledger.Source, MerkleTree.InclusionRanges(seq - 1, head.TreeSize), ct);
        var leafTask = LeafAsync(ledger, seq, ct);
        await Task.WhenAll(pathTask, leafTask);
        var path = await pathTask;
        if (await leafTask is not var (kind, content, proven))
            return Problem.Conflict("chain-incomplete", $"The chain has no link at sequence {seq}: run GET /audit/verify.").ToResult();

        return Results.Json(new InclusionProof(seq, seq - 1, kind, proven, Convert.ToHexStringLower(content),
            Convert.ToHexStringLower(MerkleTree.LeafHash(content)), head.TreeSize, head.Root, path.Select(Convert.ToHexStringLower).ToList(),
            head.Checkpoint), LedgerSetup.ApiJson);
    }

    /// <summary>The chain row at seq and its event (none for a hole), or null when the chain has no row there.</summary>
    private static async Task<(string Kind, byte[] Content, ProvenEvent? Event)?> LeafAsync(LedgerDatabase ledger, long seq, CancellationToken ct)
    {
        await using var command = ledger.Source.CreateCommand($"""
            select l.content_hash, l.kind, e.stream_id, e.version, e.type, e.timestamp, e.data::text, l.format, e.id, e.correlation_id, e.causation_id
            from {S}.chain_links l left join {S}.mt_events e on e.seq_id = l.seq_id where l.seq_id = $1
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = seq });
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        var proven = reader.IsDBNull(2) ? null
            : new ProvenEvent(reader.GetString(2), reader.GetInt64(3), reader.GetString(4),
                reader.GetFieldValue<DateTimeOffset>(5).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ"), reader.GetString(6),
                reader.GetInt16(7), reader.GetInt16(7) == 1 ? null : reader.GetGuid(8).ToString("D"),
                reader.GetInt16(7) == 1 || reader.IsDBNull(9) ? null : reader.GetString(9),
                reader.GetInt16(7) == 1 || reader.IsDBNull(10) ? null : reader.GetString(10));
        return (reader.GetString(1), reader.GetFieldValue<byte[]>(0), proven);
    }
}
