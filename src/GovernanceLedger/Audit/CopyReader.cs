using System.Buffers.Binary;
using Npgsql;

namespace GovernanceLedger.Audit;

/// <summary>
/// Reads the result of `COPY (select ...) TO STDOUT (FORMAT BINARY)` as raw bytes: fields are spans
/// over one reusable buffer, so the chainer and verify hash a million events without allocating a
/// string or an array per event. Text and jsonb come as their UTF-8 bytes (jsonb after a version
/// byte), exactly what the canonical hash needs.
/// </summary>
public sealed class CopyReader : IAsyncDisposable
{
    private static readonly byte[] Signature = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', 0x0A, 0xFF, 0x0D, 0x0A, 0x00];
    private static readonly long PostgresEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
    private readonly NpgsqlRawCopyStream _stream;
    // Rented: a chaining round opens a reader several times a second, and a fresh megabyte each time (a large
    // object) set off full background collections of the whole heap.
    private byte[] _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
    private int _start, _end, _used;
    private int[] _offsets = new int[16], _lengths = new int[16];
    private bool _finished;
    private int _rowLength;
    private bool _pendingAdvance;

    private CopyReader(NpgsqlRawCopyStream stream) => _stream = stream;

    public int FieldCount { get; private set; }

    /// <summary>Starts the copy; <paramref name="select"/> is a SELECT with its values inlined (COPY takes no parameters).</summary>
    public static async Task<CopyReader> OpenAsync(NpgsqlConnection connection, string select, CancellationToken ct)
    {
        var stream = await connection.BeginRawBinaryCopyAsync($"copy ({select}) to stdout (format binary)", ct);
        var reader = new CopyReader(stream);
        try
        {
            while (reader._end < 19) await reader.FillAsync(ct);
            if (!reader._buffer.AsSpan(0, 11).SequenceEqual(Signature)) throw new InvalidDataException("Not a binary COPY stream.");
            var header = 19 + BinaryPrimitives.ReadInt32BigEndian(reader._buffer.AsSpan(15));
            while (reader._end < header) await reader.FillAsync(ct);
            reader._start = header;
            return reader;
        }
        catch
        {
            await reader.DisposeAsync();
            throw;
        }
    }

    /// <summary>Moves to the next row; false at the end of the copy.</summary>
    public ValueTask<bool> ReadAsync(CancellationToken ct)
    {
        if (_finished) return ValueTask.FromResult(false);
        if (_pendingAdvance)
        {
            _start += _rowLength;
            _pendingAdvance = false;
        }
        // Nearly every row is already in the buffer: parse it without an await.
        return TryParseRow() ? ValueTask.FromResult(!_finished) : ReadSlowAsync(ct);
    }

    private async ValueTask<bool> ReadSlowAsync(CancellationToken ct)
    {
        while (!TryParseRow()) await FillAsync(ct);
        return !_finished;
    }

    /// <summary>Parses the row at the buffer's start if all of it is there; fields are then spans into the buffer.</summary>
    private bool TryParseRow()
    {
        var available = _end - _start;
        if (available < 2) return false;
        var row = _buffer.AsSpan(_start, available);
        var count = BinaryPrimitives.ReadInt16BigEndian(row);
        if (count == -1)
        {
            _finished = true;
            return true;
        }
        if (count > _offsets.Length)
        {
            _offsets = new int[count];
            _lengths = new int[count];
        }
        var position = 2;
        for (var i = 0; i < count; i++)
        {
            if (position + 4 > available) return false;
            var length = BinaryPrimitives.ReadInt32BigEndian(row[position..]);
            position += 4;
            _offsets[i] = _start + position;
            _lengths[i] = length;
            if (length > 0) position += length;
            if (position > available) return false;
        }
        _rowLength = position;
        FieldCount = count;
        _pendingAdvance = true;
        return true;
    }

    /// <summary>Reads more of the stream, first moving the unread part to the front (or growing the buffer for a big row).</summary>
    private async ValueTask FillAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            var larger = System.Buffers.ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            Buffer.BlockCopy(_buffer, 0, larger, 0, _end);
            Release(_buffer, _used);
            _buffer = larger;
            _used = _end;
        }
        var read = await _stream.ReadAsync(_buffer.AsMemory(_end), ct);
        if (read == 0) throw new EndOfStreamException("The COPY stream ended inside a row.");
        _end += read;
        _used = Math.Max(_used, _end);
    }

    public bool IsNull(int field) => _lengths[field] < 0;

    public ReadOnlySpan<byte> Bytes(int field) => _lengths[field] <= 0 ? [] : _buffer.AsSpan(_offsets[field], _lengths[field]);

    public long Int64(int field) => BinaryPrimitives.ReadInt64BigEndian(Bytes(field));

    public int Int32(int field) => BinaryPrimitives.ReadInt32BigEndian(Bytes(field));

    /// <summary>timestamptz: microseconds since 2000-01-01 UTC.</summary>
    public DateTime Timestamp(int field) => new(PostgresEpochTicks + Int64(field) * 10, DateTimeKind.Utc);

    /// <summary>jsonb's binary form is a version byte (1) and then the same text jsonb_out gives.</summary>
    public ReadOnlySpan<byte> JsonbText(int field) => Bytes(field)[1..];

    public string Text(int field) => System.Text.Encoding.UTF8.GetString(Bytes(field));

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _stream.DisposeAsync();
        }
        finally
        {
            var buffer = Interlocked.Exchange(ref _buffer, []);
            if (buffer.Length > 0) Release(buffer, _used);
        }
    }

    /// <summary>Back to the pool wiped: the bytes are ledger events (end users' addresses among them), and the pool serves the whole process.</summary>
    private static void Release(byte[] buffer, int used)
    {
        buffer.AsSpan(0, Math.Min(used, buffer.Length)).Clear();
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
    }
}
