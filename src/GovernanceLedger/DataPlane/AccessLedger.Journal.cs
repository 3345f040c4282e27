using System.Buffers;
using System.Threading.Channels;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Infrastructure;
using Npgsql;

namespace GovernanceLedger.DataPlane;

/// <summary>
/// The journal's side of the access ledger (DataPlane:Journal): the writer flushes each group of events to the journal
/// and releases its requests; the drain appends what the journal holds to the ledger every <see cref="JournalPace"/>,
/// many groups in one transaction, with how far each segment is in the ledger; a host that starts first appends what
/// its predecessor's segments hold beyond that, then serves.
/// </summary>
public sealed partial class AccessLedger
{
    /// <summary>The most journaled events one drain appends in one transaction.</summary>
    public const int MaxDrain = 8_000;

    private const long SegmentBytes = 64L << 20;
    private AccessJournal? _journal;
    private readonly Channel<Journaled> _undrained = Channel.CreateUnbounded<Journaled>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = Writers == 1 });
    private readonly ArrayBufferWriter<byte> _encoded = new(64 * 1024);
    private long _lastDrained = System.Diagnostics.Stopwatch.GetTimestamp();
    private int _undrainedCount;

    /// <summary>An event in the journal, with the JSON it was journaled as: the drain appends that text rather than serializing the event again.</summary>
    private sealed record Journaled(Pending Pending, string Segment, long End, string Json);

    /// <summary>Whether journaled events wait and the ledger has taken none for longer than JournalMaxLag (requests are refused meanwhile).</summary>
    public bool Lagging => _journal is not null && Volatile.Read(ref _undrainedCount) > 0
        && System.Diagnostics.Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastDrained)) > JournalMaxLag;

    private volatile bool _journalFailing;
    private long _lastProbe = long.MinValue / 2;

    /// <summary>
    /// Whether the journal takes records. After a write failed (a full or broken disk: every request of the group was
    /// answered 503), it is false until a write succeeds; meanwhile, when it is asked (at most once a second), the
    /// journal's directory is tried with a probe file the size of one extent (written, flushed, deleted), so a host whose
    /// traffic went elsewhere finds out when the disk has room again.
    /// </summary>
    public bool JournalWritable()
    {
        if (_journal is null || !_journalFailing) return true;
        // At most one probe a second, however often health is asked: the answer stands until then.
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastProbe);
        if (now - last < 1000 || Interlocked.CompareExchange(ref _lastProbe, now, last) != last) return false;
        var probe = Path.Combine(_journal.Directory, $"probe-{Instance}-{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
            {
                file.Write(new byte[AccessJournal.Extent]);
                file.Flush(flushToDisk: true);
            }
            _journalFailing = false;
            return true;
        }
        catch (Exception e)
        {
            // Whatever the write met (a full disk, a file-size limit the runtime reports as a length out of range, no
            // permission), the journal cannot take records yet.
            _log.LogWarning("The access journal's directory still cannot take a write: {Reason}", e.Message);
            return false;
        }
        finally
        {
            try { File.Delete(probe); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log.LogWarning("Could not delete the journal probe file {Probe}: {Reason}", probe, e.Message); }
        }
    }

    /// <summary>Journaled events the ledger does not hold yet.</summary>
    public int Undrained => Volatile.Read(ref _undrainedCount);

    /// <summary>The table holding how far each journal segment is in the ledger.</summary>
    public static Weasel.Postgresql.Tables.Table DrainedTable()
    {
        var table = new Weasel.Postgresql.Tables.Table(LedgerSetup.ObjectName(S, "journal_segments"));
        table.AddColumn("segment", "text").AsPrimaryKey();
        table.AddColumn<long>("drained").NotNull();
        table.AddColumn("updated_at", "timestamptz").NotNull().DefaultValueByExpression("now()");
        return table;
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (JournalDirectory is not null)
        {
            _journal = AccessJournal.Open(JournalDirectory, Instance, SegmentBytes);
            // Before the first request: what a killed predecessor served is in the ledger before anything new is.
            await RecoverAsync(_journal, cancellationToken);
        }
        await base.StartAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _journal?.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// Refuses a request while journaled records wait and the ledger has taken none for longer than JournalMaxLag: a
    /// ledger that is down or stalled stops the data plane, as it does without a journal, after that long.
    /// </summary>
    private void RefuseWhileTheLedgerLags()
    {
        if (Lagging)
            throw new InvalidOperationException($"The ledger has not taken the access journal's records for over {JournalMaxLag.TotalSeconds:0.#} s; the request is not served.");
    }

    /// <summary>Flushes a group of events to the journal, hands them to the drain, and releases their requests.</summary>
    private void Journal(List<Pending> batch)
    {
        var ends = new long[batch.Count];
        var json = new string[batch.Count];
        string segment;
        long start;
        try
        {
            _encoded.ResetWrittenCount();
            for (var i = 0; i < batch.Count; i++)
            {
                var p = batch[i];
                json[i] = _shapes.Serializer.ToJson(p.Event);
                AccessJournal.Encode(_encoded, p.Event.GetType(), p.AppId, p.At, json[i]);
                ends[i] = _encoded.WrittenCount;
            }
            (segment, start) = _journal!.Append(_encoded.WrittenSpan);
        }
        catch (Exception e)
        {
            // Fail closed: not on disk, so not served; /health says so until a write succeeds.
            _journalFailing = true;
            _log.LogError(e, "Could not write {Count} access events to the journal", batch.Count);
            Release(batch, e);
            return;
        }
        _journalFailing = false;
        telemetry.JournalFlushes.Add(1);
        // The ledger's lag is counted from the later of its last drain and the moment the journal stopped being empty.
        if (Interlocked.Add(ref _undrainedCount, batch.Count) == batch.Count)
            Interlocked.Exchange(ref _lastDrained, System.Diagnostics.Stopwatch.GetTimestamp());
        for (var i = 0; i < batch.Count; i++) _undrained.Writer.TryWrite(new Journaled(batch[i], segment, start + ends[i], json[i]));
        Release(batch);
    }

    /// <summary>Every JournalPace, appends what the journal holds beyond the ledger; a failed drain is retried with the same records.</summary>
    private async Task DrainAsync()
    {
        var batch = new List<Journaled>(MaxDrain);
        var uncertain = false;
        var failures = 0;
        while (true)
        {
            var more = batch.Count > 0 || await _undrained.Reader.WaitToReadAsync(CancellationToken.None);
            if (!more) return;
            // After failures, waits longer each time (up to a second), so a ledger that is down is not asked 20 times a second.
            await Task.Delay(failures == 0 ? JournalPace : TimeSpan.FromMilliseconds(Math.Min(1000, JournalPace.TotalMilliseconds * (1 << Math.Min(failures, 10)))), CancellationToken.None);
            while (batch.Count < MaxDrain && _undrained.Reader.TryRead(out var next)) batch.Add(next);
            try
            {
                // After a failure the transaction may have committed before its answer was lost: what the ledger holds is skipped.
                if (uncertain) await SkipDrainedAsync(batch);
                uncertain = false;
                if (batch.Count > 0) await DrainBatchAsync(batch);
                Interlocked.Add(ref _undrainedCount, -batch.Count);
                Interlocked.Exchange(ref _lastDrained, System.Diagnostics.Stopwatch.GetTimestamp());
                // A segment left for a newer one is in the ledger whole once a later segment's records are (names sort by time).
                foreach (var closed in _journal!.Closed)
                    if (batch.Count > 0 && string.CompareOrdinal(closed, batch[^1].Segment) < 0) _journal.Delete(closed);
                batch.Clear();
                failures = 0;
            }
            catch (Exception e)
            {
                uncertain = true;
                failures++;
                _log.LogError(e, "Could not append {Count} journaled access events to the ledger (attempt {Attempt}); retrying", batch.Count, failures);
                if (_undrained.Reader.Completion.IsCompleted && failures >= 3)
                {
                    _log.LogError("Stopping with {Count} journaled access events not yet in the ledger: the next start on {Journal} appends them",
                        Undrained, JournalDirectory);
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Appends journaled events with how far their segments are now in the ledger. A group PostgreSQL refuses for one
    /// event's data is split; an event refused alone is set aside in the journal's directory (rejected.jsonl) and logged,
    /// so one record can never stop the drain.
    /// </summary>
    private async Task DrainBatchAsync(List<Journaled> batch)
    {
        var drained = batch.GroupBy(j => j.Segment).Select(g => (g.Key, g.Max(j => j.End))).ToList();
        try
        {
            var journaled = new Dictionary<object, string>(batch.Count, ReferenceEqualityComparer.Instance);
            foreach (var j in batch) journaled[j.Pending.Event] = j.Json;
            await AppendAsync(batch.Select(j => j.Pending).ToList(), 0, drained, journaled);
        }
        catch (PostgresException e) when (RefusedForItsData(e))
        {
            if (batch.Count > 1)
            {
                await DrainBatchAsync(batch[..(batch.Count / 2)]);
                await DrainBatchAsync(batch[(batch.Count / 2)..]);
                return;
            }
            SetAside(batch[0], e.MessageText);
            await using var moved = Database.Writes.CreateBatch();
            moved.BatchCommands.Add(DrainedCommand(drained));
            await moved.ExecuteNonQueryAsync();
        }
    }

    private void SetAside(Journaled record, string why)
    {
        _log.LogCritical("PostgreSQL refused journaled access event {Type} of app {App} at {Segment}:{End} ({Why}); set aside in rejected.jsonl",
            record.Pending.Event.GetType().Name, record.Pending.AppId, record.Segment, record.End, why);
        var line = System.Text.Json.JsonSerializer.Serialize(new
        {
            segment = record.Segment, end = record.End, type = record.Pending.Event.GetType().FullName, app = record.Pending.AppId,
            at = record.Pending.At, why, json = _shapes.Serializer.ToJson(record.Pending.Event)
        });
        using var file = new FileStream(Path.Combine(JournalDirectory!, "rejected.jsonl"), FileMode.Append, FileAccess.Write, FileShare.Read);
        file.Write(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
        file.Flush(flushToDisk: true);
    }

    private static NpgsqlBatchCommand DrainedCommand(IReadOnlyCollection<(string Segment, long End)> drained) => Command($"""
        insert into {S}.journal_segments (segment, drained) select * from unnest($1::text[], $2::bigint[])
        on conflict (segment) do update set drained = greatest({S}.journal_segments.drained, excluded.drained), updated_at = now()
        """, drained.Select(d => d.Segment).ToArray(), drained.Select(d => d.End).ToArray());

    private async Task<Dictionary<string, long>> DrainedAsync(IEnumerable<string> segments)
    {
        await using var read = Database.Source.CreateCommand($"select segment, drained from {S}.journal_segments where segment = any($1)");
        read.Parameters.Add(new NpgsqlParameter { Value = segments.Distinct().ToArray() });
        await using var rows = await read.ExecuteReaderAsync();
        var drained = new Dictionary<string, long>(StringComparer.Ordinal);
        while (await rows.ReadAsync()) drained[rows.GetString(0)] = rows.GetInt64(1);
        return drained;
    }

    private async Task SkipDrainedAsync(List<Journaled> batch)
    {
        var drained = await DrainedAsync(batch.Select(j => j.Segment));
        var skipped = batch.RemoveAll(j => drained.TryGetValue(j.Segment, out var end) && j.End <= end);
        if (skipped == 0) return;
        Interlocked.Add(ref _undrainedCount, -skipped);
        _log.LogWarning("{Count} journaled access events were already in the ledger (their drain committed before its answer was lost)", skipped);
    }

    /// <summary>
    /// Appends what earlier segments hold beyond what the ledger has, then deletes them. A record cut short by a crash ends
    /// its segment (it was never flushed, so never served); a record whose type or content cannot be read is set aside.
    /// </summary>
    private async Task RecoverAsync(AccessJournal journal, CancellationToken ct)
    {
        if (journal.Earlier.Count == 0) return;
        var drained = await DrainedAsync(journal.Earlier);
        foreach (var segment in journal.Earlier)
        {
            var path = Path.Combine(journal.Directory, segment);
            var records = AccessJournal.Read(path, drained.GetValueOrDefault(segment), out var torn);
            if (torn > 0) _log.LogWarning("Journal segment {Segment} ends in {Bytes} bytes of a record never completed; they are ignored", segment, torn);
            var recovered = new List<Journaled>(records.Count);
            foreach (var record in records)
            {
                var pending = new Pending(record.AppId, record.At, StreamPrefix(record.AppId, record.At) + Instance, null!, new TaskCompletionSource());
                var type = record.Type.Length > 0 && typeof(AccessRecorded).Assembly.GetType(record.Type) is { Namespace: "GovernanceLedger.Contracts.Access" } known ? known : null;
                object? @event = null;
                try
                {
                    @event = type is null ? null : _shapes.Serializer.FromJson(type, new MemoryStream(System.Text.Encoding.UTF8.GetBytes(record.Json)));
                }
                catch (System.Text.Json.JsonException)
                {
                }
                if (@event is null)
                {
                    _log.LogCritical("Journal segment {Segment} holds a record of type {Type} that cannot be read back; set aside in rejected.jsonl", segment, record.Type);
                    await File.AppendAllTextAsync(Path.Combine(journal.Directory, "rejected.jsonl"),
                        System.Text.Json.JsonSerializer.Serialize(new { segment, end = record.End, type = record.Type, app = record.AppId, at = record.At, json = record.Json }) + "\n", ct);
                    continue;
                }
                recovered.Add(new Journaled(pending with { Event = @event }, segment, record.End, record.Json));
            }
            foreach (var chunk in recovered.Chunk(MaxDrain)) await DrainBatchAsync([.. chunk]);
            _log.LogInformation("Appended {Count} access events left in journal segment {Segment}", recovered.Count, segment);
            journal.Delete(segment);
        }
    }
}
