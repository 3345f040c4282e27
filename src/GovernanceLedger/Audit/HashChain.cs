using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace GovernanceLedger.Audit;

/// <summary>
/// One ledger event as the chain sees it: exactly the stored columns that must never change. Format 2 (every link chained
/// since it exists) adds the event's id, correlation id and causation id; format 1 links keep the columns they covered.
/// </summary>
public sealed record ChainedEvent(long Sequence, string StreamId, long Version, string Type, DateTimeOffset Timestamp, string Data,
    short Format = 1, Guid Id = default, string? CorrelationId = null, string? CausationId = null);

/// <summary>
/// The tamper-evidence chain. Each sequence number has a content hash: for an event it covers its
/// sequence, stream, version, type, time and data (PostgreSQL's canonical jsonb text); for a hole (a
/// sequence number a rolled-back transaction used) it is SHA-256("{seq}|hole"). Each link hashes the
/// previous link and that content hash, so editing, deleting or reordering anything breaks every
/// link after it, and a deletion cannot pass as a hole: the hole would have to be in the chain.
/// </summary>
public static class HashChain
{
    public static readonly byte[] Genesis = new byte[32];
    public const string CheckpointType = "chain_checkpointed";
    private const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.ffffffZ";

    /// <summary>The format new links are chained in.</summary>
    public const short CurrentFormat = 2;

    public static string Canonical(ChainedEvent e)
    {
        var head = $"{e.Sequence}|{e.StreamId}|{e.Version}|{e.Type}|{e.Timestamp.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture)}|";
        return e.Format == 1 ? head + e.Data
            : $"{head}{e.Id:D}|{Field(e.CorrelationId)}|{Field(e.CausationId)}|{e.Data}";
    }

    /// <summary>A free-text column in format 2: "-" when null, else its UTF-8 length, ':' and the text, so no value can pass for two.</summary>
    private static string Field(string? text) => text is null ? "-" : $"{Encoding.UTF8.GetByteCount(text)}:{text}";

    public static byte[] ContentHash(ChainedEvent e) => SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(e)));

    /// <summary>
    /// The same content hash from the raw UTF-8 columns, without building strings: the verifier and the
    /// chainer read events as bytes. <paramref name="scratch"/> grows as needed and is reused.
    /// </summary>
    public static void ContentHash(long sequence, ReadOnlySpan<byte> stream, long version, ReadOnlySpan<byte> type, DateTime utc,
        ReadOnlySpan<byte> data, ref byte[] scratch, Span<byte> destination) =>
        ContentHash(1, sequence, stream, version, type, utc, default, default, false, default, false, data, ref scratch, destination);

    /// <summary>
    /// The content hash in either format from raw columns: <paramref name="id"/> is the uuid's 16 bytes in network order, and
    /// the correlation and causation ids their UTF-8 text (with whether each is there at all). Format 1 ignores the three.
    /// </summary>
    public static void ContentHash(short format, long sequence, ReadOnlySpan<byte> stream, long version, ReadOnlySpan<byte> type, DateTime utc,
        ReadOnlySpan<byte> id, ReadOnlySpan<byte> correlation, bool hasCorrelation, ReadOnlySpan<byte> causation, bool hasCausation,
        ReadOnlySpan<byte> data, ref byte[] scratch, Span<byte> destination)
    {
        var needed = 20 + stream.Length + 20 + type.Length + 27 + data.Length + 5 + 40 + 2 * 12 + correlation.Length + causation.Length;
        if (scratch.Length < needed) scratch = new byte[Math.Max(needed, scratch.Length * 2)];
        var span = scratch.AsSpan();
        var at = 0;
        Utf8Formatter.TryFormat(sequence, span, out var written);
        at += written;
        span[at++] = (byte)'|';
        stream.CopyTo(span[at..]);
        at += stream.Length;
        span[at++] = (byte)'|';
        Utf8Formatter.TryFormat(version, span[at..], out written);
        at += written;
        span[at++] = (byte)'|';
        type.CopyTo(span[at..]);
        at += type.Length;
        span[at++] = (byte)'|';
        at += FormatTimestamp(utc, span[at..]);
        span[at++] = (byte)'|';
        if (format != 1)
        {
            at += FormatUuid(id, span[at..]);
            span[at++] = (byte)'|';
            at += FormatField(correlation, hasCorrelation, span[at..]);
            span[at++] = (byte)'|';
            at += FormatField(causation, hasCausation, span[at..]);
            span[at++] = (byte)'|';
        }
        data.CopyTo(span[at..]);
        at += data.Length;
        Sha256.Hash(span[..at], destination);
    }

    /// <summary>
    /// yyyy-MM-ddTHH:mm:ss.ffffffZ as UTF-8, digit by digit: DateTime.TryFormat parses its format
    /// string on every call, which was a fifth of verify's time per event.
    /// </summary>
    private static int FormatTimestamp(DateTime utc, Span<byte> destination)
    {
        var (year, month, day) = utc;
        var ticksOfDay = utc.Ticks % TimeSpan.TicksPerDay;
        var seconds = ticksOfDay / TimeSpan.TicksPerSecond;
        var micros = ticksOfDay % TimeSpan.TicksPerSecond / 10;
        Digits(destination, 0, year, 4);
        destination[4] = (byte)'-';
        Digits(destination, 5, month, 2);
        destination[7] = (byte)'-';
        Digits(destination, 8, day, 2);
        destination[10] = (byte)'T';
        Digits(destination, 11, seconds / 3600, 2);
        destination[13] = (byte)':';
        Digits(destination, 14, seconds / 60 % 60, 2);
        destination[16] = (byte)':';
        Digits(destination, 17, seconds % 60, 2);
        destination[19] = (byte)'.';
        Digits(destination, 20, micros, 6);
        destination[26] = (byte)'Z';
        return 27;
    }

    /// <summary>A uuid as PostgreSQL and Guid.ToString("D") write it: lower-case hex in groups of 8-4-4-4-12.</summary>
    private static int FormatUuid(ReadOnlySpan<byte> id, Span<byte> destination)
    {
        if (id.Length != 16) throw new ArgumentException("A uuid is 16 bytes.", nameof(id));
        var at = 0;
        for (var i = 0; i < 16; i++)
        {
            if (i is 4 or 6 or 8 or 10) destination[at++] = (byte)'-';
            destination[at++] = (byte)"0123456789abcdef"[id[i] >> 4];
            destination[at++] = (byte)"0123456789abcdef"[id[i] & 0xF];
        }
        return at;
    }

    private static int FormatField(ReadOnlySpan<byte> text, bool present, Span<byte> destination)
    {
        if (!present)
        {
            destination[0] = (byte)'-';
            return 1;
        }
        Utf8Formatter.TryFormat(text.Length, destination, out var at);
        destination[at++] = (byte)':';
        text.CopyTo(destination[at..]);
        return at + text.Length;
    }

    private static void Digits(Span<byte> destination, int at, long value, int width)
    {
        for (var i = at + width - 1; i >= at; i--, value /= 10) destination[i] = (byte)('0' + value % 10);
    }

    /// <summary>The content hash of a hole: no event string has a single '|', so it never equals an event's.</summary>
    public static byte[] HoleContentHash(long sequence) => SHA256.HashData(Encoding.UTF8.GetBytes($"{sequence}|hole"));

    public static byte[] Link(byte[] previous, byte[] contentHash)
    {
        var link = new byte[32];
        Link(previous, contentHash, link);
        return link;
    }

    public static void Link(ReadOnlySpan<byte> previous, ReadOnlySpan<byte> contentHash, Span<byte> destination)
    {
        Span<byte> buffer = stackalloc byte[64];
        previous.CopyTo(buffer);
        contentHash.CopyTo(buffer[32..]);
        Sha256.Hash(buffer, destination);
    }

    /// <summary>What checkpoints signed before they carried a JWS; still signed, so the field keeps its meaning.</summary>
    public static string CheckpointStatement(long upToSequence, string linkHex) => $"{upToSequence}|{linkHex}";
}
