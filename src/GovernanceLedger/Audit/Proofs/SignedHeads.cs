using System.Text.Json;
using GovernanceLedger.Contracts.Audit;
using GovernanceLedger.Infrastructure;
using Npgsql;

namespace GovernanceLedger.Audit.Proofs;

/// <summary>A signed tree head a proof is made against: the checkpoint's tree size, root and its JWS.</summary>
public sealed record SignedHead(long TreeSize, string Root, string Checkpoint);

/// <summary>
/// The ledger's signed tree heads. They are read from the ledger for speed and served as they are:
/// the proof's reader checks the JWS against the JWKS, so a head altered in the database fails there.
/// </summary>
public static class SignedHeads
{
    private const string S = LedgerSetup.Schema;

    /// <summary>The head of the given size, or the latest when size is null; null when there is none.</summary>
    public static async Task<SignedHead?> FindAsync(NpgsqlDataSource source, long? treeSize, CancellationToken ct)
    {
        await using var command = source.CreateCommand(treeSize is null
            ? $"select data::text from {S}.mt_events where type = '{HashChain.CheckpointType}' and data ? 'Jws' and data->>'TreeRoot' is not null order by seq_id desc limit 1"
            : $"select data::text from {S}.mt_events where type = '{HashChain.CheckpointType}' and (data->>'UpToSequence')::bigint = $1 and data->>'TreeRoot' is not null order by seq_id desc limit 1");
        if (treeSize is { } size) command.Parameters.Add(new NpgsqlParameter { Value = size });
        if (await command.ExecuteScalarAsync(ct) is not string json) return null;
        var checkpoint = JsonSerializer.Deserialize<ChainCheckpointed>(json)!;
        return checkpoint is { TreeRoot: { } root, Jws: { } jws } ? new SignedHead(checkpoint.UpToSequence, root, jws) : null;
    }
}
