using System.Text;
using System.Text.Json;
using GovernanceLedger.Audit.Checkpoints;
using GovernanceLedger.Contracts.Audit;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Microsoft.IdentityModel.Tokens;
using Npgsql;

namespace GovernanceLedger.Audit.Verifying;

/// <summary>
/// The ledger's checkpoints against the key store and the witness: each is signed by a checkpoint
/// key (never by anything found in the database), matches the chain at the sequence it covers, and
/// is the very checkpoint the witness holds for that size; each witnessed checkpoint is in the ledger.
/// </summary>
public sealed class CheckpointCheck(NpgsqlDataSource source, SigningKeys keys, WitnessView witness, ProblemList problems)
{
    private const string S = LedgerSetup.Schema;

    public async Task<(int Checked, int Legacy)> RunAsync(long from, long to, CancellationToken ct)
    {
        var ledgerCheckpoints = new List<(long Seq, ChainCheckpointed Checkpoint)>();
        await using (var command = source.CreateCommand($"select seq_id, data::text from {S}.mt_events where type = '{HashChain.CheckpointType}' order by seq_id"))
        await using (var reader = await command.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
                ledgerCheckpoints.Add((reader.GetInt64(0), JsonSerializer.Deserialize<ChainCheckpointed>(reader.GetString(1))!));

        var recordedLinks = new Dictionary<long, byte[]>();
        await using (var links = source.CreateCommand($"select seq_id, link from {S}.chain_links where seq_id = any($1)"))
        {
            links.Parameters.Add(new NpgsqlParameter { Value = ledgerCheckpoints.Select(c => c.Checkpoint.UpToSequence).ToArray() });
            await using var reader = await links.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) recordedLinks[reader.GetInt64(0)] = reader.GetFieldValue<byte[]>(1);
        }

        int checkedCount = 0, legacy = 0;
        foreach (var (seq, checkpoint) in ledgerCheckpoints.Where(c => c.Seq >= from && c.Seq <= to))
        {
            checkedCount++;
            if (checkpoint.Jws is null)
            {
                if (!await LegacySignatureValidAsync(checkpoint, ct)) legacy++;
            }
            else if (CheckpointJws.Read(checkpoint.Jws) is not { } read || await keys.CheckpointKeyAsync(read.KeyId, ct) is not { } key
                || !CheckpointJws.SignatureValid(checkpoint.Jws, key))
                problems.Add(seq, "checkpoint-signature", $"The checkpoint is not signed by checkpoint key {checkpoint.KeyId} of the key store.");
            else if (read.Statement.TreeSize != checkpoint.UpToSequence || read.Statement.Link != checkpoint.LinkHash || read.Statement.Root != checkpoint.TreeRoot)
                problems.Add(seq, "checkpoint-mismatch", "The checkpoint event's fields differ from what its JWS signed.");
            else if (!witness.Checkpoints.TryGetValue(checkpoint.UpToSequence, out var witnessed))
                problems.Add(seq, "unwitnessed-checkpoint",
                    $"This checkpoint of the ledger up to {checkpoint.UpToSequence} is not in the witness at {witness.Location}.");
            else if (witnessed.Checkpoint.Jws != checkpoint.Jws)
                problems.Add(seq, "checkpoint-mismatch", $"This checkpoint differs from the one witnessed for tree size {checkpoint.UpToSequence}.");

            if (recordedLinks.TryGetValue(checkpoint.UpToSequence, out var link) && Convert.ToHexStringLower(link) != checkpoint.LinkHash)
                problems.Add(checkpoint.UpToSequence, "checkpoint-mismatch",
                    $"The chain at {checkpoint.UpToSequence} differs from what checkpoint {seq} signed.");
        }

        // A witnessed checkpoint must be in the ledger. Only the newest may still be on its way there
        // (witnessed, not yet appended); once it was chained, a checkpoint link after it says it arrived.
        var inLedger = ledgerCheckpoints.Select(c => c.Checkpoint.Jws).OfType<string>().ToHashSet();
        bool arrived;
        await using (var chained = source.CreateCommand($"select exists (select 1 from {S}.chain_links where kind = 'checkpoint' and seq_id > $1)"))
        {
            chained.Parameters.Add(new NpgsqlParameter { Value = witness.TreeSize });
            arrived = await chained.ExecuteScalarAsync(ct) is true;
        }
        foreach (var (size, (witnessed, _)) in witness.Checkpoints.Where(c => c.Key >= from && c.Key <= to))
        {
            if (inLedger.Contains(witnessed.Jws)) continue;
            if (size == witness.TreeSize && !arrived) continue;
            problems.Add(size, "missing-checkpoint",
                $"The checkpoint of the ledger up to {size} is in the witness but not in the ledger: it was deleted.");
        }
        return (checkedCount, legacy);
    }

    /// <summary>Checkpoints from before JWS carried "{seq}|{link}" only; they verify if their key is a checkpoint key of the store.</summary>
    private async Task<bool> LegacySignatureValidAsync(ChainCheckpointed checkpoint, CancellationToken ct)
    {
        if (await keys.CheckpointKeyAsync(checkpoint.KeyId, ct) is not { } key) return false;
        var provider = key.CryptoProviderFactory.CreateForVerifying(key, SecurityAlgorithms.RsaSha256);
        try
        {
            return provider.Verify(Encoding.UTF8.GetBytes(HashChain.CheckpointStatement(checkpoint.UpToSequence, checkpoint.LinkHash)),
                Convert.FromBase64String(checkpoint.Signature));
        }
        finally
        {
            key.CryptoProviderFactory.ReleaseSignatureProvider(provider);
        }
    }
}
