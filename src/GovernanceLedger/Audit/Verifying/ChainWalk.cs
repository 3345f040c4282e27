using System.Security.Cryptography;
using GovernanceLedger.Infrastructure;
using Npgsql;

namespace GovernanceLedger.Audit.Verifying;

/// <summary>An event whose stored content no longer hashes to what was chained (or witnessed) at its sequence.</summary>
public sealed record Mismatch(long Sequence, byte[] Expected, byte[] Stream, long Version, byte[] Type, DateTime Timestamp, byte[] Data)
{
    public byte[] HashAt(long sequence)
    {
        var scratch = new byte[256];
        var hash = new byte[32];
        HashChain.ContentHash(sequence, Stream, Version, Type, Timestamp, Data, ref scratch, hash);
        return hash;
    }
}

/// <summary>
/// Walks one range of sequence numbers contiguously, streaming the chain and the events side by side
/// (two binary COPYs, merged here), and compares every sequence with the chain and the witness:
/// nothing may be missing, moved, added or altered. Ranges are independent given the recorded link
/// before them, so verify walks several at once.
/// </summary>
public sealed class ChainWalk(NpgsqlDataSource source, WitnessView witness, long chainedUpTo, ProblemList problems)
{
    private const string S = LedgerSetup.Schema;
    private const int MaxMismatches = 10_000;

    public long Events { get; private set; }
    public long Holes { get; private set; }
    public List<Mismatch> Mismatches { get; } = [];
    /// <summary>The recorded link at each witnessed tree size inside the range.</summary>
    public Dictionary<long, byte[]> LinksAtCheckpoints { get; } = [];

    private readonly byte[] _previous = new byte[32];
    private bool _hasPrevious;
    private byte[] _scratch = new byte[4096];
    private readonly byte[] _actual = new byte[32];
    private readonly byte[] _expectedLink = new byte[32];
    private bool _truncationReported;

    public async Task RunAsync(long start, long end, CancellationToken ct)
    {
        if (start == 1)
        {
            HashChain.Genesis.CopyTo(_previous, 0);
            _hasPrevious = true;
        }
        else
        {
            await using var before = source.CreateCommand($"select link from {S}.chain_links where seq_id = $1");
            before.Parameters.Add(new NpgsqlParameter { Value = start - 1 });
            if (await before.ExecuteScalarAsync(ct) is byte[] link)
            {
                link.CopyTo(_previous, 0);
                _hasPrevious = true;
            }
        }

        await using var linkConnection = await source.OpenConnectionAsync(ct);
        await using var eventConnection = await source.OpenConnectionAsync(ct);
        await using var links = await CopyReader.OpenAsync(linkConnection,
            $"select seq_id, content_hash, link, kind from {S}.chain_links where seq_id between {start} and {end} order by seq_id", ct);
        await using var events = await CopyReader.OpenAsync(eventConnection,
            $"select seq_id, stream_id, version, type, timestamp, data from {S}.mt_events where seq_id between {start} and {end} order by seq_id", ct);
        var linkSeq = await links.ReadAsync(ct) ? links.Int64(0) : long.MaxValue;
        var eventSeq = await events.ReadAsync(ct) ? events.Int64(0) : long.MaxValue;
        for (var s = start; s <= end; s++)
        {
            // Past the chain's end nothing is expected but what the witness saw.
            if (s > chainedUpTo && s > witness.TreeSize) break;
            var hasLink = linkSeq == s;
            var hasEvent = eventSeq == s;
            Check(s, hasLink ? links : null, hasEvent ? events : null);
            if (hasLink) linkSeq = await links.ReadAsync(ct) ? links.Int64(0) : long.MaxValue;
            if (hasEvent) eventSeq = await events.ReadAsync(ct) ? events.Int64(0) : long.MaxValue;
        }
    }

    /// <summary>One sequence number: its chain row (null when absent) and its event (null when absent).</summary>
    private void Check(long s, CopyReader? links, CopyReader? events)
    {
        var witnessed = s <= witness.TreeSize;
        if (links is null)
        {
            if (s > chainedUpTo)
            {
                if (witnessed && !_truncationReported)
                    problems.Add(s, "truncated",
                        $"The chain ends at {chainedUpTo}, but the witness holds the ledger up to {witness.TreeSize}: sequences {s}..{witness.TreeSize} were cut off.");
                _truncationReported = true;
            }
            else if (events is null)
                problems.Add(s, "deleted", "Neither the event nor its chain link is at this sequence: both were deleted.");
            else if (witnessed && HashEvent(events, s).AsSpan().SequenceEqual(witness.Leaf(s)))
                problems.Add(s, "chain-rewritten", "The chain link at this sequence was deleted; the event still matches the witness.");
            else
                problems.Add(s, "inserted", "An event sits inside the chained range without a link: it was added behind the ledger's back.");
            _hasPrevious = false;
            return;
        }

        var content = links.Bytes(1);
        var recordedLink = links.Bytes(2);
        if (_hasPrevious)
        {
            HashChain.Link(_previous, content, _expectedLink);
            if (!CryptographicOperations.FixedTimeEquals(_expectedLink, recordedLink))
                problems.Add(s, "chain-rewritten", "The recorded link does not follow from the previous link: the chain itself was altered.");
        }
        recordedLink.CopyTo(_previous);
        _hasPrevious = true;
        if (witness.Checkpoints.ContainsKey(s)) LinksAtCheckpoints[s] = recordedLink.ToArray();
        var expected = witnessed ? witness.Leaf(s) : content;
        var differsFromWitness = witnessed && !content.SequenceEqual(expected);
        var kind = links.Bytes(3);

        if (kind.SequenceEqual("hole"u8))
        {
            Holes++;
            if (events is not null) problems.Add(s, "inserted", "An event appeared at a sequence the chain recorded as a hole (a rolled-back transaction).");
            else if (differsFromWitness)
                problems.Add(s, "deleted", "The chain records a hole here, but the witness saw an event: it was deleted and disguised as a rollback.");
        }
        else if (events is null)
        {
            if (kind.SequenceEqual("checkpoint"u8)) problems.Add(s, "missing-checkpoint", "A signed checkpoint event is gone from the ledger.");
            else problems.Add(s, "deleted", "The event at this sequence was deleted.");
        }
        else
        {
            Events++;
            if (!HashEvent(events, s).AsSpan().SequenceEqual(expected))
            {
                if (Mismatches.Count < MaxMismatches)
                    Mismatches.Add(new Mismatch(s, expected.ToArray(), events.Bytes(1).ToArray(), events.Int64(2), events.Bytes(3).ToArray(),
                        events.Timestamp(4), events.JsonbText(5).ToArray()));
                else problems.Add(s, "edited", "The event's stored content no longer matches what was chained.");
            }
            else if (differsFromWitness)
                problems.Add(s, "chain-rewritten", "The chain's content hash here differs from the witness, though the event matches the witness: the chain was rewritten.");
        }
    }

    private byte[] HashEvent(CopyReader events, long sequence)
    {
        HashChain.ContentHash(sequence, events.Bytes(1), events.Int64(2), events.Bytes(3), events.Timestamp(4), events.JsonbText(5), ref _scratch, _actual);
        return _actual;
    }
}
