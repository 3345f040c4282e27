using System.Security.Cryptography;
using GovernanceLedger.Audit.Verifying;
using GovernanceLedger.Audit.Witness;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Audit;

public sealed record ChainProblem(long Sequence, string Reason, string Detail);

/// <summary>How far a running verify is: sequence numbers to walk, and how many are walked so far.</summary>
public sealed class VerifyProgress
{
    public long Total { get; set; }
    public Func<long> Checked { get; set; } = () => 0;
}

public sealed record VerificationReport(
    bool Intact, long From, long To, long EventsChecked, int CheckpointsChecked, ChainProblem? FirstBroken,
    IReadOnlyList<ChainProblem> Problems, double Seconds,
    long HolesChecked = 0, long ChainedUpTo = 0, long WitnessedUpTo = 0, string? Witness = null, int LegacyCheckpoints = 0);

/// <summary>
/// Proves the ledger complete and unaltered against the witness outside the database. Every sequence
/// number from `from` to the end of the chain (or of the witness, whichever is further) must have its
/// event or a recorded hole; each content hash must equal both the chain's and the witness's; each
/// link must follow from the one before; every checkpoint must be signed by a checkpoint key of the
/// key store and be in both the ledger and the witness. Problems name the sequence and why: edited,
/// deleted, reordered, inserted, truncated, chain-rewritten, missing-checkpoint, unwitnessed-checkpoint,
/// checkpoint-signature, checkpoint-mismatch, or witness-* when the witness itself is damaged.
/// </summary>
public sealed class LedgerVerifier(LedgerDatabase ledger, SigningKeys keys, IChainWitness witness, WitnessChecks witnessChecks, EventColumns columns,
    ReadModelCheck readModels, ILogger<LedgerVerifier> logger)
{
    private const string S = LedgerSetup.Schema;
    private const int MaxProblems = 100;
    /// <summary>Below this many sequence numbers one walk is quicker than several.</summary>
    private const long ParallelFrom = 200_000;

    public async Task<VerificationReport> VerifyAsync(long from, long to, CancellationToken ct, VerifyProgress? progress = null)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        from = Math.Max(1, from);
        var problems = new ProblemList();
        var view = await WitnessView.LoadAsync(witness, keys, witnessChecks, problems, ct);
        var witnessLoaded = System.Diagnostics.Stopwatch.GetElapsedTime(started);

        long chainedUpTo;
        await using (var head = ledger.Reads.CreateCommand($"select coalesce(max(seq_id), 0) from {S}.chain_links"))
            chainedUpTo = (long)(await head.ExecuteScalarAsync(ct))!;
        var end = Math.Min(to, Math.Max(chainedUpTo, view.TreeSize));

        var walks = new List<ChainWalk>();
        if (progress is not null)
        {
            progress.Total = Math.Max(0, end - from + 1);
            progress.Checked = () => walks.ToList().Sum(w => w.Events + w.Holes);
        }
        if (end >= from)
        {
            var parts = end - from + 1 >= ParallelFrom ? Environment.ProcessorCount : 1;
            var size = (end - from + 1 + parts - 1) / parts;
            var runs = new List<Task>();
            for (var start = from; start <= end; start += size)
            {
                var walk = new ChainWalk(ledger.Reads, view, chainedUpTo, problems, columns.ForWalk());
                walks.Add(walk);
                var (a, b) = (start, Math.Min(end, start + size - 1));
                runs.Add(Task.Run(() => walk.RunAsync(a, b, ct), ct));
            }
            await Task.WhenAll(runs);
        }
        var walked = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        await CheckStreamsAsync(problems, ct);
        await readModels.RunAsync(problems, ct);
        Classify(walks.SelectMany(w => w.Mismatches).ToList(), problems);
        var (checkpoints, legacy) = await new CheckpointCheck(ledger.Source, keys, view, problems).RunAsync(from, to, ct);
        logger.LogInformation("Verified {From}..{End} in {Walks} walks: witness read and checked at {Witness} ms, chain walked at {Walked} ms, checkpoints at {Done} ms",
            from, end, walks.Count, (int)witnessLoaded.TotalMilliseconds, (int)walked.TotalMilliseconds,
            (int)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);

        var ordered = problems.Snapshot().Where(p => p.Sequence == 0 || (p.Sequence >= from && p.Sequence <= to))
            // What has a place in the ledger first; what has none (a document with no stream, an unreadable witness) after it.
            .OrderBy(p => p.Sequence == 0).ThenBy(p => p.Sequence).ToList();
        return new VerificationReport(ordered.Count == 0, from, Math.Max(from - 1, end), walks.Sum(w => w.Events), checkpoints,
            ordered.FirstOrDefault(), ordered.Take(MaxProblems).ToList(), System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds,
            walks.Sum(w => w.Holes), chainedUpTo, view.TreeSize, view.Location, legacy);
    }

    /// <summary>
    /// A stream's row is not chained, but Marten reads it: an archived stream or one moved to another tenant hides its app's
    /// events from the decisions that load them, and a missing or lowered version refuses every later append. The ledger
    /// does none of these, so such a row is named at the stream's first event.
    /// </summary>
    private async Task CheckStreamsAsync(ProblemList problems, CancellationToken ct)
    {
        await using var command = ledger.Reads.CreateCommand($"""
            select s.id, s.is_archived, s.tenant_id, (select min(e.seq_id) from {S}.mt_events e where e.stream_id = s.id)
            from {S}.mt_streams s where s.is_archived is not false or s.tenant_id is distinct from $1 order by s.id limit {MaxProblems}
            """);
        command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = EventColumns.Tenant });
        await using (var rows = await command.ExecuteReaderAsync(ct))
            while (await rows.ReadAsync(ct))
            {
                var stream = StrictJson.Bounded(rows.GetString(0), 120);
                problems.Add(rows.IsDBNull(3) ? 0 : rows.GetInt64(3), "edited", rows.IsDBNull(1) || rows.GetBoolean(1)
                    ? $"The stream '{stream}' is marked archived (mt_streams.is_archived is not false): Marten hides its events from the decisions that read it."
                    : $"The stream '{stream}' was moved to another tenant (mt_streams.tenant_id): the ledger's own reads no longer see it.");
            }

        // Marten appends to a stream at the version its row names: a row that is gone or behind its events refuses every
        // later decision on that stream (a pause, say). (A
        // row ahead of its events is what deleting its last events leaves: the chain names those.) Named at the first event
        // the row does not account for.
        await using var versions = ledger.Reads.CreateCommand($"""
            select e.stream_id, min(e.seq_id) filter (where s.id is null or e.version > s.version), max(e.version), s.version, s.id is null
            from {S}.mt_events e left join {S}.mt_streams s on s.id = e.stream_id
            where e.stream_id <> '{EventColumns.TombstoneStream}'
            group by e.stream_id, s.id, s.version having s.id is null or s.version is null or s.version < max(e.version)
            order by 2 limit {MaxProblems}
            """);
        await using (var rows = await versions.ExecuteReaderAsync(ct))
            while (await rows.ReadAsync(ct))
            {
                var stream = StrictJson.Bounded(rows.GetString(0), 120);
                problems.Add(rows.IsDBNull(1) ? 0 : rows.GetInt64(1), "edited", rows.GetBoolean(4)
                    ? $"The stream '{stream}' has events but no row in mt_streams: it was deleted, and appends to the stream now fail."
                    : $"The stream '{stream}' is at version {(rows.IsDBNull(3) ? "null" : rows.GetInt64(3))} in mt_streams, but its events reach {rows.GetInt64(2)}: appends to it now fail.");
            }
    }

    /// <summary>An event that hashes correctly at another broken position was moved there, not edited.</summary>
    private static void Classify(List<Mismatch> mismatches, ProblemList problems)
    {
        var expectedAt = mismatches.ToDictionary(m => m.Sequence, m => (m.Expected, m.Format));
        foreach (var moved in mismatches)
        {
            var original = expectedAt.Keys.Where(other => other != moved.Sequence)
                .FirstOrDefault(other => CryptographicOperations.FixedTimeEquals(moved.HashAt(other, expectedAt[other].Format), expectedAt[other].Expected));
            if (original != 0)
                problems.Add(moved.Sequence, "reordered", $"This event was chained at sequence {original}: events were moved.");
            else
                problems.Add(moved.Sequence, "edited", "The event's stored content no longer matches what was chained and witnessed.");
        }
    }
}

public static class VerifyEndpoint
{
    [WolverineGet("/audit/verify", OperationId = "verifyLedger"), Authorize(Policy = AuditSetup.AuditorPolicy)]
    [Tags("Audit")]
    public static Task<VerificationReport> Get(long? from, long? to, LedgerVerifier verifier, CancellationToken ct) =>
        verifier.VerifyAsync(from ?? 1, to ?? long.MaxValue, ct);
}
