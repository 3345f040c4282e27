using System.Buffers.Binary;
using System.Security.Cryptography;
using GovernanceLedger.Infrastructure;
using Npgsql;

namespace GovernanceLedger.Audit.Verifying;

/// <summary>An event whose stored content no longer hashes to what was chained (or witnessed) at its sequence.</summary>
public sealed record Mismatch(long Sequence, byte[] Expected, short Format, byte[] Stream, long Version, byte[] Type, DateTime Timestamp,
    byte[] Id, byte[]? Correlation, byte[]? Causation, byte[] Data)
{
    /// <summary>The event's content hash as if it had been chained at <paramref name="sequence"/> in <paramref name="format"/>.</summary>
    public byte[] HashAt(long sequence, short format)
    {
        var scratch = new byte[256];
        var hash = new byte[32];
        HashChain.ContentHash(format, sequence, Stream, Version, Type, Timestamp, Id, Correlation, Correlation is not null, Causation,
            Causation is not null, Data, ref scratch, hash);
        return hash;
    }
}

/// <summary>
/// Walks one range of sequence numbers contiguously, streaming the chain joined to its events (one
/// binary COPY), and compares every sequence with the chain and the witness:
/// nothing may be missing, moved, added or altered. Ranges are independent given the recorded link
/// before them, so verify walks several at once.
/// </summary>
public sealed class ChainWalk(NpgsqlDataSource source, WitnessView witness, long chainedUpTo, ProblemList problems, EventColumns.Check columns)
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

    /// <summary>Sequence numbers without a chain row inside the chain: looked at one by one after the walk (tampering only).</summary>
    private readonly List<(long From, long To)> _gaps = [];
    private long _gapLength;
    private const long MaxGapLength = 100_000;

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

        // One stream, the chain joined to its events in PostgreSQL (a merge join of two index scans):
        // a protocol message per sequence number instead of two is most of the client's cost.
        await using var connection = await source.OpenConnectionAsync(ct);
        await using (var noJit = new NpgsqlCommand("set jit = off", connection)) await noJit.ExecuteNonQueryAsync(ct);
        await using (var rows = await CopyReader.OpenAsync(connection, $"""
            select l.seq_id, l.content_hash, l.link, l.kind, e.seq_id, e.stream_id, e.version, e.type, e.timestamp, e.data, {EventColumns.Select},
                   l.format, e.id, e.correlation_id, e.causation_id
            from {S}.chain_links l left join {S}.mt_events e on e.seq_id = l.seq_id
            where l.seq_id between {start} and {end} order by l.seq_id
            """, ct))
        {
            var s = start;
            while (await rows.ReadAsync(ct))
            {
                var sequence = rows.Int64(0);
                if (sequence > s) Gap(s, sequence - 1);
                Check(sequence, rows);
                s = sequence + 1;
            }
            // After the last chain row: up to the chain's end the rows were removed; beyond it, up to what the witness saw, the tail was cut.
            if (s <= Math.Min(end, chainedUpTo)) Gap(s, Math.Min(end, chainedUpTo));
            var cut = chainedUpTo + 1;
            if (cut >= start && cut <= Math.Min(end, witness.TreeSize))
                problems.Add(cut, "truncated",
                    $"The chain ends at {chainedUpTo}, but the witness holds the ledger up to {witness.TreeSize}: sequences {cut}..{witness.TreeSize} were cut off.");
        }
        await CheckGapsAsync(connection, ct);
    }

    private void Gap(long from, long to)
    {
        _hasPrevious = false;
        if (_gapLength >= MaxGapLength)
        {
            problems.Add(from, "deleted", $"Sequences {from}..{to} have no chain link (not examined one by one: too many gaps).");
            return;
        }
        _gaps.Add((from, to));
        _gapLength += to - from + 1;
    }

    /// <summary>Sequences the chain has no row for: an event there was inserted behind the ledger's back, or its link was removed; no event, both were deleted.</summary>
    private async Task CheckGapsAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        foreach (var (from, to) in _gaps)
        {
            await using var events = await CopyReader.OpenAsync(connection,
                $"select seq_id, stream_id, version, type, timestamp, data, id, correlation_id, causation_id from {S}.mt_events where seq_id between {from} and {to} order by seq_id", ct);
            var s = from;
            while (await events.ReadAsync(ct))
            {
                var sequence = events.Int64(0);
                for (; s < sequence; s++) problems.Add(s, "deleted", "Neither the event nor its chain link is at this sequence: both were deleted.");
                // With no link there is no format to go by: the event matches the witness in either.
                if (sequence <= witness.TreeSize && (HashEvent(events, sequence, 1, 1, 6).AsSpan().SequenceEqual(witness.Leaf(sequence))
                    || HashEvent(events, sequence, HashChain.CurrentFormat, 1, 6).AsSpan().SequenceEqual(witness.Leaf(sequence))))
                    problems.Add(sequence, "chain-rewritten", "The chain link at this sequence was deleted; the event still matches the witness.");
                else
                    problems.Add(sequence, "inserted", "An event sits inside the chained range without a link: it was added behind the ledger's back.");
                s = sequence + 1;
            }
            for (; s <= to; s++) problems.Add(s, "deleted", "Neither the event nor its chain link is at this sequence: both were deleted.");
        }
    }

    /// <summary>One sequence number with its chain row; the event's columns (from 4 on) are null when it has none.</summary>
    private void Check(long s, CopyReader row)
    {
        var witnessed = s <= witness.TreeSize;
        var hasEvent = !row.IsNull(4);
        var content = row.Bytes(1);
        var recordedLink = row.Bytes(2);
        if (_hasPrevious)
        {
            HashChain.Link(_previous, content, _expectedLink);
            if (!CryptographicOperations.FixedTimeEquals(_expectedLink, recordedLink))
                problems.Add(s, "chain-rewritten", "The recorded link does not follow from the previous link: the chain itself was altered.");
        }
        recordedLink.CopyTo(_previous);
        _hasPrevious = true;
        if (witnessed && witness.Checkpoints.ContainsKey(s)) LinksAtCheckpoints[s] = recordedLink.ToArray();
        var expected = witnessed ? witness.Leaf(s) : content;
        var differsFromWitness = witnessed && !content.SequenceEqual(expected);
        var kind = row.Bytes(3);

        if (kind.SequenceEqual("hole"u8))
        {
            Holes++;
            if (hasEvent) problems.Add(s, "inserted", "An event appeared at a sequence the chain recorded as a hole (a rolled-back transaction).");
            else if (differsFromWitness)
                problems.Add(s, "deleted", "The chain records a hole here, but the witness saw an event: it was deleted and disguised as a rollback.");
        }
        else if (!hasEvent)
        {
            if (kind.SequenceEqual("checkpoint"u8)) problems.Add(s, "missing-checkpoint", "A signed checkpoint event is gone from the ledger.");
            else problems.Add(s, "deleted", "The event at this sequence was deleted.");
        }
        else
        {
            Events++;
            var format = (short)BinaryPrimitives.ReadInt16BigEndian(row.Bytes(14));
            // The link's own labels: a format the ledger never wrote, or a kind that does not say what the event is.
            if (format is not (1 or HashChain.CurrentFormat))
                problems.Add(s, "chain-rewritten", $"The chain link here names format {format}, which the ledger never writes.");
            var checkpoint = row.Bytes(7).SequenceEqual("chain_checkpointed"u8);
            if (!kind.SequenceEqual(checkpoint ? "checkpoint"u8 : "event"u8))
                problems.Add(s, "chain-rewritten", $"The chain link here is of kind '{System.Text.Encoding.UTF8.GetString(kind[..Math.Min(kind.Length, 40)])}', not '{(checkpoint ? "checkpoint" : "event")}'.");
            if (!HashEvent(row, s, format, 5, 15).AsSpan().SequenceEqual(expected))
            {
                if (Mismatches.Count < MaxMismatches)
                    Mismatches.Add(new Mismatch(s, expected.ToArray(), format, row.Bytes(5).ToArray(), row.Int64(6), row.Bytes(7).ToArray(),
                        row.Timestamp(8), row.Bytes(15).ToArray(), row.IsNull(16) ? null : row.Bytes(16).ToArray(),
                        row.IsNull(17) ? null : row.Bytes(17).ToArray(), row.JsonbText(9).ToArray()));
                else problems.Add(s, "edited", "The event's stored content no longer matches what was chained.");
            }
            else if (differsFromWitness)
                problems.Add(s, "chain-rewritten", "The chain's content hash here differs from the witness, though the event matches the witness: the chain was rewritten.");
            // The columns the content hash does not cover, yet that decide what the ledger reads back.
            if (columns.Problem(row.Bytes(7), row.Bytes(10), row.IsNull(11) || row.Bytes(11)[0] != 0, row.Bytes(12), row.Bytes(13)[0] != 0) is { } altered)
                problems.Add(s, "edited", altered);
        }
    }

    /// <summary>
    /// The content hash of the event whose stream, version, type, timestamp and data are the columns from <paramref name="first"/>
    /// on, and whose id, correlation id and causation id are those from <paramref name="extra"/> on.
    /// </summary>
    private byte[] HashEvent(CopyReader row, long sequence, short format, int first, int extra)
    {
        HashChain.ContentHash(format, sequence, row.Bytes(first), row.Int64(first + 1), row.Bytes(first + 2), row.Timestamp(first + 3),
            row.Bytes(extra), row.Bytes(extra + 1), !row.IsNull(extra + 1), row.Bytes(extra + 2), !row.IsNull(extra + 2), row.JsonbText(first + 4),
            ref _scratch, _actual);
        return _actual;
    }
}
