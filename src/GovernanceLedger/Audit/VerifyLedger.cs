using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GovernanceLedger.Contracts.Audit;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Microsoft.AspNetCore.Authorization;
using Npgsql;
using Wolverine.Http;

namespace GovernanceLedger.Audit;

public sealed record ChainProblem(long Sequence, string Reason, string Detail);

public sealed record VerificationReport(
    bool Intact, long From, long To, long EventsChecked, int CheckpointsChecked, ChainProblem? FirstBroken,
    IReadOnlyList<ChainProblem> Problems, double Seconds);

/// <summary>
/// Recomputes the hash chain from the stored events and compares it with the recorded links and the
/// signed checkpoints. Reports the first broken sequence number and why: edited, deleted, reordered,
/// inserted behind the ledger's back, a rewritten chain, or a missing or forged checkpoint.
/// </summary>
public sealed class LedgerVerifier(LedgerDatabase ledger, SigningKeys keys)
{
    private const string S = LedgerSetup.Schema;
    private const int MaxProblems = 100;

    public async Task<VerificationReport> VerifyAsync(long from, long to, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var source = ledger.Source;
        var problems = new List<ChainProblem>();
        void Problem(long seq, string reason, string detail)
        {
            if (problems.Count < MaxProblems) problems.Add(new ChainProblem(seq, reason, detail));
        }

        var previous = HashChain.Genesis;
        await using (var head = source.CreateCommand($"select link from {S}.chain_links where seq_id < $1 order by seq_id desc limit 1"))
        {
            head.Parameters.Add(new NpgsqlParameter { Value = from });
            if (await head.ExecuteScalarAsync(ct) is byte[] link) previous = link;
        }

        // Only what the follow-up checks need is kept: the chain itself is streamed, not held in memory.
        var recordedContentAt = new Dictionary<long, byte[]>();
        var mismatches = new List<ChainedEvent>();
        var checkpoints = new List<(long Seq, ChainCheckpointed Checkpoint)>();
        long checkedEvents = 0, lastChained = 0;
        await using (var command = source.CreateCommand($"""
            select l.seq_id, l.content_hash, l.link, l.kind, e.seq_id is not null, e.stream_id, e.version, e.type, e.timestamp, e.data::text
            from {S}.chain_links l left join {S}.mt_events e on e.seq_id = l.seq_id
            where l.seq_id between $1 and $2 order by l.seq_id
            """))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = from });
            command.Parameters.Add(new NpgsqlParameter { Value = to });
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var seq = reader.GetInt64(0);
                var recordedContent = reader.GetFieldValue<byte[]>(1);
                var recordedLink = reader.GetFieldValue<byte[]>(2);
                var kind = reader.GetString(3);
                lastChained = seq;
                checkedEvents++;

                var expectedLink = HashChain.Link(previous, recordedContent);
                if (!CryptographicOperations.FixedTimeEquals(expectedLink, recordedLink))
                    Problem(seq, "chain-rewritten", "The recorded link does not follow from the previous link: the chain itself was altered.");
                previous = recordedLink;

                if (!reader.GetBoolean(4))
                {
                    Problem(seq, kind == "checkpoint" ? "missing-checkpoint" : "deleted",
                        kind == "checkpoint" ? "A signed checkpoint event is gone from the ledger." : "The event at this sequence was deleted.");
                    continue;
                }
                var e = new ChainedEvent(seq, reader.GetString(5), reader.GetInt64(6), reader.GetString(7),
                    reader.GetFieldValue<DateTimeOffset>(8), reader.GetString(9));
                var actual = HashChain.ContentHash(e);
                if (!CryptographicOperations.FixedTimeEquals(actual, recordedContent))
                {
                    mismatches.Add(e);
                    recordedContentAt[seq] = recordedContent;
                }
                if (e.Type == "chain_checkpointed")
                    checkpoints.Add((seq, JsonSerializer.Deserialize<ChainCheckpointed>(e.Data)!));
            }
        }

        // An event that hashes correctly at another broken position was moved there, not edited.
        foreach (var moved in mismatches)
        {
            var original = mismatches.Select(m => m.Sequence).Where(other => other != moved.Sequence)
                .FirstOrDefault(other => recordedContentAt.TryGetValue(other, out var recorded)
                    && CryptographicOperations.FixedTimeEquals(HashChain.ContentHash(moved with { Sequence = other }), recorded));
            if (original != 0)
                Problem(moved.Sequence, "reordered", $"This event was chained at sequence {original}: events were moved.");
            else
                Problem(moved.Sequence, "edited", "The event's stored content no longer matches what was chained.");
        }

        var recordedLinks = new Dictionary<long, byte[]>();
        await using (var links = source.CreateCommand($"select seq_id, link from {S}.chain_links where seq_id = any($1)"))
        {
            links.Parameters.Add(new NpgsqlParameter { Value = checkpoints.Select(c => c.Checkpoint.UpToSequence).ToArray() });
            await using var reader = await links.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) recordedLinks[reader.GetInt64(0)] = reader.GetFieldValue<byte[]>(1);
        }

        var published = await keys.PublishedAsync(ct);
        foreach (var (seq, checkpoint) in checkpoints)
        {
            var key = published.FirstOrDefault(k => k.KeyId == checkpoint.KeyId);
            var statement = Encoding.UTF8.GetBytes(HashChain.CheckpointStatement(checkpoint.UpToSequence, checkpoint.LinkHash));
            var signed = key is not null && key.Key.Rsa!.VerifyData(statement, Convert.FromBase64String(checkpoint.Signature),
                HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            if (!signed)
                Problem(seq, "checkpoint-signature", $"The checkpoint's signature does not verify with key {checkpoint.KeyId}.");
            else if (recordedLinks.TryGetValue(checkpoint.UpToSequence, out var link) && Convert.ToHexStringLower(link) != checkpoint.LinkHash)
                Problem(checkpoint.UpToSequence, "checkpoint-mismatch", $"The chain at {checkpoint.UpToSequence} differs from what checkpoint {seq} signed.");
        }

        // Events committed inside the range that the chain never saw were inserted behind the ledger's back.
        await using (var unchained = source.CreateCommand($"""
            select e.seq_id from {S}.mt_events e left join {S}.chain_links l on l.seq_id = e.seq_id
            where l.seq_id is null and e.seq_id between $1 and $2 and e.seq_id < $3 order by e.seq_id limit {MaxProblems}
            """))
        {
            unchained.Parameters.Add(new NpgsqlParameter { Value = from });
            unchained.Parameters.Add(new NpgsqlParameter { Value = to });
            unchained.Parameters.Add(new NpgsqlParameter { Value = lastChained });
            await using var reader = await unchained.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                Problem(reader.GetInt64(0), "inserted", "An event sits inside the chained range without a link: it was added behind the ledger's back.");
        }

        var ordered = problems.OrderBy(p => p.Sequence).ToList();
        return new VerificationReport(ordered.Count == 0, from, Math.Min(to, lastChained), checkedEvents, checkpoints.Count,
            ordered.FirstOrDefault(), ordered, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
    }
}

public static class VerifyEndpoint
{
    [WolverineGet("/audit/verify", OperationId = "verifyLedger"), Authorize(Policy = AuditSetup.AuditorPolicy)]
    [Tags("Audit")]
    public static Task<VerificationReport> Get(long? from, long? to, LedgerVerifier verifier, CancellationToken ct) =>
        verifier.VerifyAsync(from ?? 1, to ?? long.MaxValue, ct);
}
