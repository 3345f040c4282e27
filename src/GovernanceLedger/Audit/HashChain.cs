using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace GovernanceLedger.Audit;

/// <summary>One ledger event as the chain sees it: exactly the stored columns that must never change.</summary>
public sealed record ChainedEvent(long Sequence, string StreamId, long Version, string Type, DateTimeOffset Timestamp, string Data);

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

    public static string Canonical(ChainedEvent e) =>
        $"{e.Sequence}|{e.StreamId}|{e.Version}|{e.Type}|{e.Timestamp.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture)}|{e.Data}";

    public static byte[] ContentHash(ChainedEvent e) => SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(e)));

    /// <summary>
    /// The same content hash from the raw UTF-8 columns, without building strings: the verifier and the
    /// chainer read events as bytes. <paramref name="scratch"/> grows as needed and is reused.
    /// </summary>
    public static void ContentHash(long sequence, ReadOnlySpan<byte> stream, long version, ReadOnlySpan<byte> type, DateTime utc,
        ReadOnlySpan<byte> data, ref byte[] scratch, Span<byte> destination)
    {
        var needed = 20 + stream.Length + 20 + type.Length + 27 + data.Length + 5;
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
