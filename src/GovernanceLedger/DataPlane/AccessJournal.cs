using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace GovernanceLedger.DataPlane;

/// <summary>
/// A host-local write-ahead log of data-plane events (DataPlane:Journal names its directory). Each group of records is
/// written and flushed to disk (fdatasync) before the requests it holds are answered, so a served response has a durable
/// record without a database commit of its own; the ledger takes the records later in large batches
/// (<see cref="AccessLedger"/>), and a host that starts finds what its predecessor left undrained and appends it.
/// <para>
/// Files ("segments") are named by the time they were opened and the writer's instance, so names sort oldest first
/// and are unique across hosts sharing a ledger. A record is its payload's length (4 bytes, little-endian), the payload's
/// XXH64 checksum (8 bytes), and the payload: the event's .NET type, app, time and JSON, each on its own line. The
/// checksum finds a torn or unwritten record, not a forged one (the ledger's chain is what stands against tampering), so
/// it is a fast non-cryptographic hash; segments written before it, whose records carry the first 8 bytes of the
/// payload's SHA-256, are still read.
/// A record cut short by a crash, or one whose checksum does not match, ends the segment: nothing after it was ever
/// flushed, so no response depended on it. So does a length of zero: segments are laid out with zeros ahead of the
/// records (see <see cref="Extent"/>).
/// </para>
/// </summary>
public sealed class AccessJournal : IDisposable
{
    public const string Extension = ".journal";
    private const int Header = 12;
    private readonly FileStream _lock;
    private readonly long _segmentBytes;
    private readonly string _instance;
    private SafeFileHandle _handle;
    private long _length;

    /// <summary>How far the segment has been written with zeros and flushed whole, size and blocks.</summary>
    private long _zeroedTo;

    /// <summary>
    /// Segments grow a megabyte of zeros at a time, flushed with their new size. A group of records then overwrites blocks
    /// the file already has, and its flush (fdatasync) writes the data alone: the file's size and block map never wait on
    /// a request. A flush that must also write the inode (fsync after an append) costs a second write to the disk.
    /// </summary>
    public const int Extent = 1 << 20;

    private static readonly byte[] Zeros = new byte[64 * 1024];

    /// <summary>The directory holding the segments.</summary>
    public string Directory { get; }

    /// <summary>The segment being written.</summary>
    public string Current { get; private set; }

    /// <summary>Segments found when the journal was opened, oldest first: a predecessor's, to be drained before serving.</summary>
    public IReadOnlyList<string> Earlier { get; }

    private AccessJournal(string directory, string instance, long segmentBytes, FileStream @lock)
    {
        Directory = directory;
        _instance = instance;
        _segmentBytes = segmentBytes;
        _lock = @lock;
        Earlier = System.IO.Directory.GetFiles(directory, "*" + Extension).Select(Path.GetFileName).OfType<string>()
            .Order(StringComparer.Ordinal).ToList();
        (Current, _handle) = NewSegment();
    }

    /// <summary>
    /// Opens the journal in a directory (created if missing) for this process alone: a second host on the same directory
    /// would drain segments still being written, so it is refused with the reason.
    /// </summary>
    public static AccessJournal Open(string directory, string instance, long segmentBytes)
    {
        System.IO.Directory.CreateDirectory(directory);
        FileStream held;
        try
        {
            held = new FileStream(Path.Combine(directory, "journal.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException(
                $"DataPlane:Journal '{directory}' is in use by another host: each host needs a journal directory of its own.", e);
        }
        return new AccessJournal(directory, instance, segmentBytes, held);
    }

    private (string Name, SafeFileHandle Handle) NewSegment()
    {
        var name = $"{DateTime.UtcNow:yyyyMMdd'T'HHmmssfffffff}-{_instance}{Extension}";
        var handle = File.OpenHandle(Path.Combine(Directory, name), FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        // The new name is flushed too: a segment whose records are on disk but whose directory entry is not would be lost.
        FlushDirectory(Directory);
        _length = 0;
        _zeroedTo = 0;
        return (name, handle);
    }

    private static void FlushDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var fd = Posix.open(directory, 0);
        if (fd < 0) throw new IOException($"Could not open the journal directory {directory} to flush it (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}).");
        try
        {
            if (Posix.fsync(fd) != 0)
                throw new IOException($"Could not flush the journal directory {directory} (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}).");
        }
        finally
        {
            Posix.close(fd);
        }
    }

    private static class Posix
    {
        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int open([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, int flags);

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int fdatasync(int fd);

        [System.Runtime.InteropServices.DllImport("libc")]
        public static extern int close(int fd);
    }

    /// <summary>Segments written and left behind for a newer one: deleted once the ledger holds all they hold.</summary>
    public IReadOnlyCollection<string> Closed => (IReadOnlyCollection<string>)_closed.Keys;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _closed = new(StringComparer.Ordinal);

    /// <summary>
    /// Writes encoded records after the last ones and flushes them to disk. Returns the segment they are in and where
    /// they start in it. A failed write leaves the segment's length where it was, so the next write overwrites whatever
    /// part of this one reached the file.
    /// </summary>
    public (string Segment, long Start) Append(ReadOnlySpan<byte> records)
    {
        if (_length >= _segmentBytes)
        {
            _closed[Current] = true;
            _handle.Dispose();
            (Current, _handle) = NewSegment();
        }
        if (_length + records.Length > _zeroedTo) Extend(_length + records.Length);
        RandomAccess.Write(_handle, records, _length);
        FlushData(_handle);
        var start = _length;
        _length += records.Length;
        return (Current, start);
    }

    /// <summary>Zeros from the end of what was prepared up to whole extents past <paramref name="needed"/>, flushed with the file's size.</summary>
    private void Extend(long needed)
    {
        var to = (needed + Extent - 1) / Extent * Extent;
        for (var at = _zeroedTo; at < to; at += Zeros.Length)
            RandomAccess.Write(_handle, Zeros.AsSpan(0, (int)Math.Min(Zeros.Length, to - at)), at);
        RandomAccess.FlushToDisk(_handle);
        _zeroedTo = to;
    }

    /// <summary>The data of the file to disk without its metadata (fdatasync), where the system has it; fsync elsewhere.</summary>
    private static void FlushData(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (Posix.fdatasync((int)handle.DangerousGetHandle()) != 0)
                throw new IOException($"Could not flush the journal segment to disk (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}).");
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>Removes a segment the ledger holds all of.</summary>
    public void Delete(string segment)
    {
        File.Delete(Path.Combine(Directory, segment));
        _closed.TryRemove(segment, out _);
    }

    /// <summary>Encodes one record after those already in the buffer.</summary>
    public static void Encode(ArrayBufferWriter<byte> buffer, Type type, string appId, DateTimeOffset at, string json)
    {
        Span<char> time = stackalloc char[40];
        if (!at.UtcDateTime.TryFormat(time, out var timeLength, "O", System.Globalization.CultureInfo.InvariantCulture))
            throw new FormatException("The event's time does not format.");
        var name = type.FullName!;
        var length = Encoding.UTF8.GetByteCount(name) + Encoding.UTF8.GetByteCount(appId) + timeLength + Encoding.UTF8.GetByteCount(json) + 3;
        var span = buffer.GetSpan(Header + length);
        var payload = span.Slice(Header, length);
        var written = Encoding.UTF8.GetBytes(name, payload);
        payload[written++] = (byte)'\n';
        written += Encoding.UTF8.GetBytes(appId, payload[written..]);
        payload[written++] = (byte)'\n';
        written += Encoding.UTF8.GetBytes(time[..timeLength], payload[written..]);
        payload[written++] = (byte)'\n';
        Encoding.UTF8.GetBytes(json, payload[written..]);
        BinaryPrimitives.WriteInt32LittleEndian(span, length);
        XxHash64.Hash(payload, span.Slice(4, 8));
        buffer.Advance(Header + length);
    }

    /// <summary>One record read back: where it ends in its segment, and what it holds.</summary>
    public sealed record Record(long End, string Type, string AppId, DateTimeOffset At, string Json);

    /// <summary>
    /// The whole records of a segment after a position, in order. Reading stops at the first record that is cut short
    /// or does not match its checksum; <paramref name="torn"/> says how many bytes were left after it.
    /// </summary>
    public static List<Record> Read(string path, long from, out long torn)
    {
        var bytes = File.ReadAllBytes(path);
        var records = new List<Record>();
        var at = (int)Math.Min(from, bytes.Length);
        Span<byte> hash = stackalloc byte[32];
        while (bytes.Length - at >= Header)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at));
            if (length <= 0 || length > bytes.Length - at - Header) break;
            var payload = bytes.AsSpan(at + Header, length);
            if (!Checks(payload, bytes.AsSpan(at + 4, 8), hash)) break;
            var text = Encoding.UTF8.GetString(payload);
            var lines = text.Split('\n', 4);
            at += Header + length;
            // A whole record (its checksum holds) that does not read as one is returned with no type, to be set aside:
            // the records after it are still good.
            records.Add(lines.Length == 4 && DateTimeOffset.TryParse(lines[2], System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.RoundtripKind, out var when)
                ? new Record(at, lines[0], lines[1], when, lines[3])
                : new Record(at, "", "", DateTimeOffset.MinValue, text));
        }
        // A segment is prepared with zeros ahead of its records: only what is not zero after the last whole record was torn.
        torn = bytes.AsSpan(at).LastIndexOfAnyExcept((byte)0) + 1;
        return records;
    }

    /// <summary>Whether a record's checksum matches its payload: XXH64, or the SHA-256 prefix of segments written before it.</summary>
    private static bool Checks(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> checksum, Span<byte> hash)
    {
        XxHash64.Hash(payload, hash[..8]);
        if (hash[..8].SequenceEqual(checksum)) return true;
        SHA256.HashData(payload, hash);
        return hash[..8].SequenceEqual(checksum);
    }

    public void Dispose()
    {
        _handle.Dispose();
        _lock.Dispose();
    }
}
