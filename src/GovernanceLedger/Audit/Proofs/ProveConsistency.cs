using GovernanceLedger.Audit.Merkle;
using GovernanceLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Audit.Proofs;

public sealed record ConsistencyProof(SignedHead From, SignedHead To, IReadOnlyList<string> Proof);

/// <summary>
/// GET /audit/consistency?from=&amp;to=: an RFC 9162 consistency proof that the tree signed at size
/// `to` (default: the latest checkpoint) extends the one signed at size `from` without changing a
/// single earlier leaf: the ledger only ever grew between the two checkpoints.
/// </summary>
public static class ProveConsistency
{
    [WolverineGet("/audit/consistency", OperationId = "proveConsistency"), Authorize(Policy = AuditSetup.AuditorPolicy)]
    [Tags("Audit")]
    public static async Task<IResult> Get(long? from, long? to, LedgerDatabase ledger, CancellationToken ct)
    {
        if (from is not { } first || first < 1)
            return Problem.Invalid("from", "required", "from is the tree size of a signed checkpoint, 1 or more.").ToResult();
        if (to is { } last && last < first)
            return Problem.Invalid("to", "minimum", $"to ({last}) must not be before from ({first}).").ToResult();
        var older = await SignedHeads.FindAsync(ledger.Source, first, ct);
        if (older is null) return Problem.Invalid("from", "signed-checkpoint", $"No signed checkpoint has tree size {first}.").ToResult();
        var newer = await SignedHeads.FindAsync(ledger.Source, to, ct);
        if (newer is null) return Problem.Invalid("to", "signed-checkpoint", $"No signed checkpoint has tree size {to}.").ToResult();
        if (newer.TreeSize < older.TreeSize)
            return Problem.Invalid("from", "maximum", $"from ({first}) is after the latest signed checkpoint ({newer.TreeSize}).").ToResult();

        var proof = older.TreeSize == newer.TreeSize ? []
            : await MerkleProofs.SubtreeHashesAsync(ledger.Source, MerkleTree.ConsistencyRanges(older.TreeSize, newer.TreeSize), ct);
        return Results.Json(new ConsistencyProof(older, newer, proof.Select(Convert.ToHexStringLower).ToList()), LedgerSetup.ApiJson);
    }
}
