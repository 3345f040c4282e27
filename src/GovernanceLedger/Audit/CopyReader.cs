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
    private byte[] _buffer = new byte[1 << 20];
    private int _start, _end;
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
        await reader.EnsureAsync(19, ct);
        if (!reader._buffer.AsSpan(0, 11).SequenceEqual(Signature)) throw new InvalidDataException("Not a binary COPY stream.");
        var extension = BinaryPrimitives.ReadInt32BigEndian(reader._buffer.AsSpan(15));
        reader._start = 19;
        await reader.EnsureAsync(extension, ct);
        reader._start += extension;
        return reader;
    }

    /// <summary>Moves to the next row; false at the end of the copy.</summary>
    public async ValueTask<bool> ReadAsync(CancellationToken ct)
    {
        if (_finished) return false;
        await EnsureAsync(2, ct);
        var count = BinaryPrimitives.ReadInt16BigEndian(_buffer.AsSpan(_start));
        if (count == -1)
        {
            _finished = true;
            return false;
        }
        if (count > _offsets.Length)
        {
            _offsets = new int[count];
            _lengths = new int[count];
        }
        // Fields are addressed relative to the row start, so the buffer may move while the row is assembled.
        var position = 2;
        for (var i = 0; i < count; i++)
        {
            await EnsureAsync(position + 4, ct);
            var length = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_start + position));
            position += 4;
            _offsets[i] = position;
            _lengths[i] = length;
            if (length > 0)
            {
                await EnsureAsync(position + length, ct);
                position += length;
            }
        }
        for (var i = 0; i < count; i++) _offsets[i] += _start;
        _rowLength = position;
        FieldCount = count;
        _pendingAdvance = true;
        return true;
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

    /// <summary>Makes <paramref name="count"/> bytes from the current row start available in the buffer.</summary>
    private async ValueTask EnsureAsync(int count, CancellationToken ct)
    {
        if (_pendingAdvance)
        {
            _start += _rowLength;
            _pendingAdvance = false;
        }
        while (_end - _start < count)
        {
            if (_start > 0 && (_buffer.Length - _end < count || _start > _buffer.Length / 2))
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_buffer.Length - _start < count) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, count + _start));
            var read = await _stream.ReadAsync(_buffer.AsMemory(_end), ct);
            if (read == 0) throw new EndOfStreamException("The COPY stream ended inside a row.");
            _end += read;
        }
    }

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();
}
