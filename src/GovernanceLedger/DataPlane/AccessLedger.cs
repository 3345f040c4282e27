using System.Threading.Channels;
using GovernanceLedger.Infrastructure;
using Marten;
using Npgsql;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Projections.Chargeback;

namespace GovernanceLedger.DataPlane;

/// <summary>
/// Group commit for data-plane events, into "access:{app}:{day}:{instance}" streams (and each batch's traffic summary into
/// "traffic:{day}:{instance}"): one per host process, so
/// instances sharing a ledger never race for the same stream version (they would refuse each other's batches and
/// answer 503). Requests hand their event over and wait; a writer appends
/// everything that queued up meanwhile in a single transaction and then releases them all. A
/// response is sent only after its event is committed, so a killed host never leaves a served
/// response without its event, yet the ledger sees a few large batches instead of many small ones.
/// </summary>
public sealed partial class AccessLedger(IDocumentStore store, LedgerDatabase ledger, IConfiguration configuration, ILogger<AccessLedger> logger,
    Telemetry.LedgerTelemetry telemetry) : BackgroundService
{
    /// <summary>
    /// DataPlane:CommitPace, the shortest time from the start of one commit to the start of the next (0 to 50 ms; 0, the
    /// default, commits as soon as the last commit ended). A commit costs PostgreSQL about as much again as the accesses
    /// it holds (docs/SCALING.md): pacing makes fewer, larger batches and costs each request up to the pace in latency.
    /// </summary>
    public TimeSpan CommitPace { get; } = configuration.GetValue("DataPlane:CommitPace", TimeSpan.Zero) is var pace
        && pace >= TimeSpan.Zero && pace <= TimeSpan.FromMilliseconds(50)
            ? pace
            : throw new InvalidOperationException($"DataPlane:CommitPace is {pace}: it must be from 0 to 50 ms (every served request waits up to that much longer).");

    /// <summary>
    /// DataPlane:Journal, a directory for a host-local journal of data-plane events (empty, the default: none). With it,
    /// a request is answered once its event is flushed to the journal on disk, and the ledger takes the journal's records
    /// every <see cref="JournalPace"/> in one transaction, instead of one commit per group of waiting requests.
    /// </summary>
    public string? JournalDirectory { get; } = string.IsNullOrWhiteSpace(configuration["DataPlane:Journal"]) ? null : Path.GetFullPath(configuration["DataPlane:Journal"]!);

    /// <summary>DataPlane:JournalPace, how often the journal's records are appended to the ledger (1 ms to 1 s; 50 ms by default).</summary>
    public TimeSpan JournalPace { get; } = configuration.GetValue("DataPlane:JournalPace", TimeSpan.FromMilliseconds(50)) is var pace
        && pace >= TimeSpan.FromMilliseconds(1) && pace <= TimeSpan.FromSeconds(1)
            ? pace
            : throw new InvalidOperationException($"DataPlane:JournalPace is {pace}: it must be from 1 ms to 1 s (the ledger trails the journal by about that much).");

    /// <summary>
    /// DataPlane:JournalMaxLag, how long the ledger may fail to take the journal's records before requests are refused
    /// (503) instead of served (100 ms to 60 s; 2 s by default): the ledger being down still stops the data plane.
    /// </summary>
    public TimeSpan JournalMaxLag { get; } = configuration.GetValue("DataPlane:JournalMaxLag", TimeSpan.FromSeconds(2)) is var lag
        && lag >= TimeSpan.FromMilliseconds(100) && lag <= TimeSpan.FromSeconds(60)
            ? lag
            : throw new InvalidOperationException($"DataPlane:JournalMaxLag is {lag}: it must be from 100 ms to 60 s.");

    private readonly ILogger _log = logger;
    private LedgerDatabase Database => ledger;

    public const int MaxBatch = 2_000;
    // One writer: it owns its streams and knows their versions, and each batch is one round trip and one commit.
    // Measured with 3 writers (when appends went through Marten's session), throughput did not rise.
    public const int Writers = 1;
    private const int Attempts = 3;
    private readonly Channel<Pending>[] _queues = Enumerable.Range(0, Writers)
        .Select(_ => Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true })).ToArray();

    private int _next;

    private sealed record Pending(string AppId, DateTimeOffset At, string StreamId, object Event, TaskCompletionSource Committed);

    /// <summary>The prefix of every access stream of an app on a day; each instance's stream follows it.</summary>
    public static string StreamPrefix(string appId, DateTimeOffset at) => $"access:{appId}:{at.UtcDateTime:yyyy-MM-dd}:";

    /// <summary>
    /// This writer's part of every access stream name: random, so two instances (or a restart, or two hosts in one
    /// process) never share a stream. The writer owns its streams, so it knows their versions without asking.
    /// </summary>
    public string Instance { get; } = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    /// <summary>Events handed over and not yet taken by a writer (those in a batch being committed are not counted).</summary>
    public int Queued => Volatile.Read(ref _queued);

    private int _queued;

    /// <summary>Completes when the event is durably in the ledger; throws when it could not be written.</summary>
    public Task RecordAsync(string appId, DateTimeOffset at, object @event)
    {
        var shard = (int)((uint)Interlocked.Increment(ref _next) % Writers);
        if (_journal is not null) RefuseWhileTheLedgerLags();
        var pending = new Pending(appId, at, StreamPrefix(appId, at) + Instance + (Writers > 1 ? $"-{shard}" : ""), @event,
            // Completed only by Release, on the thread pool: a request's continuation never runs on a writer.
            new TaskCompletionSource());
        Interlocked.Increment(ref _queued);
        if (!(_journal is not null ? _handoff.TryAdd(pending) : _queues[shard].Writer.TryWrite(pending)))
        {
            Interlocked.Decrement(ref _queued);
            throw new InvalidOperationException("The access ledger is shutting down; the request is not served.");
        }
        return pending.Committed.Task;
    }

    protected override Task ExecuteAsync(CancellationToken stop)
    {
        if (_journal is null) return Task.WhenAll(_queues.Select((queue, writer) => Task.Run(() => WriteAsync(queue, writer, stop), CancellationToken.None)));
        // The journal's writer blocks in each flush to disk: it has a thread of its own rather than holding one of the pool's.
        var writers = Task.Factory.StartNew(() => WriteJournal(stop), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        // The drain outlives the writers: whatever they journaled as the host stops is still appended (or left for the next start).
        var drain = Task.Run(DrainAsync, CancellationToken.None);
        return Task.WhenAll(writers.ContinueWith(_ => _undrained.Writer.TryComplete(), TaskScheduler.Default), drain);
    }

    private async Task WriteAsync(Channel<Pending> queue, int writer, CancellationToken stop)
    {
        var batch = new List<Pending>(MaxBatch);
        var started = 0L;
        while (await WaitAsync(queue, stop))
        {
            if (started != 0 && CommitPace - System.Diagnostics.Stopwatch.GetElapsedTime(started) is { Ticks: > 0 } rest)
                await Task.Delay(rest, CancellationToken.None);
            started = System.Diagnostics.Stopwatch.GetTimestamp();
            batch.Clear();
            while (batch.Count < MaxBatch && queue.Reader.TryRead(out var pending)) batch.Add(pending);
            Interlocked.Add(ref _queued, -batch.Count);
            await CommitAsync(batch, writer);
        }
    }

    /// <summary>The journal's writer: takes every event waiting, flushes them to the journal as one group, releases their requests.</summary>
    private void WriteJournal(CancellationToken stop)
    {
        // Stopping refuses new events; those already handed over are still written.
        using var stopping = stop.Register(_handoff.Close);
        var batch = new List<Pending>();
        var started = 0L;
        while (_handoff.Wait())
        {
            if (started != 0 && CommitPace - System.Diagnostics.Stopwatch.GetElapsedTime(started) is { Ticks: > 0 } rest)
                Thread.Sleep(rest);
            started = System.Diagnostics.Stopwatch.GetTimestamp();
            batch = _handoff.TakeAll(batch);
            Interlocked.Add(ref _queued, -batch.Count);
            Journal(batch);
            batch.Clear();
        }
    }

    private readonly Handoff _handoff = new();

    /// <summary>
    /// Where requests leave their events for the journal's writer: a list under a lock, and the writer's thread blocked on
    /// it only while it is empty. A request wakes the writer only when it waits (one wake per group at most); a channel
    /// would have completed the writer's wait on a thread-pool item, a second thread woken for every group.
    /// </summary>
    private sealed class Handoff
    {
        private readonly object _gate = new();
        private List<Pending> _waiting = [];
        private bool _writerAsleep, _closed;

        public bool TryAdd(Pending pending)
        {
            lock (_gate)
            {
                if (_closed) return false;
                _waiting.Add(pending);
                if (_writerAsleep)
                {
                    _writerAsleep = false;
                    Monitor.Pulse(_gate);
                }
                return true;
            }
        }

        /// <summary>Blocks until events wait; false once closed with none left.</summary>
        public bool Wait()
        {
            lock (_gate)
            {
                while (_waiting.Count == 0)
                {
                    if (_closed) return false;
                    _writerAsleep = true;
                    Monitor.Wait(_gate);
                }
                return true;
            }
        }

        /// <summary>Every event waiting, in the order handed over; <paramref name="empty"/> takes their place.</summary>
        public List<Pending> TakeAll(List<Pending> empty)
        {
            lock (_gate)
            {
                var taken = _waiting;
                _waiting = empty;
                return taken;
            }
        }

        public void Close()
        {
            lock (_gate)
            {
                _closed = true;
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>
    /// Lets a group's requests go on (or fail): their continuations run on a few thread-pool items, each working through a
    /// share of the group in turn, instead of one item and one woken thread per request. Never on the calling writer,
    /// which goes back to the next group at once.
    /// </summary>
    private static void Release(List<Pending> batch, Exception? failure = null)
    {
        var shares = Math.Min(batch.Count, Environment.ProcessorCount * 2);
        for (int share = 0, from = 0; share < shares; share++)
        {
            var count = (batch.Count - from) / (shares - share);
            ThreadPool.UnsafeQueueUserWorkItem(static release =>
            {
                foreach (var pending in release.Group)
                    if (release.Failure is null) pending.Committed.TrySetResult();
                    else pending.Committed.TrySetException(release.Failure);
            }, (Group: batch.GetRange(from, count), Failure: failure), preferLocal: false);
            from += count;
        }
    }

    /// <summary>Appends the batch and releases its requests; a batch PostgreSQL refuses for one event's data is split, so only that event's request fails.</summary>
    private async Task CommitAsync(List<Pending> batch, int writer)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await AppendAsync(batch, writer);
                Release(batch);
                return;
            }
            catch (Exception e) when (attempt < Attempts && IsConcurrentAppend(e))
            {
                // Another instance appended to one of these streams at the same version: the whole
                // transaction rolled back, so appending the batch again writes each event once.
                logger.LogDebug(e, "Concurrent append to an access stream; retrying batch of {Count}", batch.Count);
            }
            catch (PostgresException e) when (batch.Count > 1 && RefusedForItsData(e))
            {
                // A data exception: some event's content was refused, and with it everyone else's. Halves until it stands alone.
                logger.LogWarning(e, "PostgreSQL refused the data of one of {Count} access events; appending them in halves", batch.Count);
                await CommitAsync(batch[..(batch.Count / 2)], writer);
                await CommitAsync(batch[(batch.Count / 2)..], writer);
                return;
            }
            catch (Exception e)
            {
                // Fail closed: every waiting request learns its event was not written and is not served.
                logger.LogError(e, "Could not append {Count} access events", batch.Count);
                Release(batch, e);
                return;
            }
        }
    }

    /// <summary>
    /// Appends a batch as Marten events in one transaction, set-based: one statement moves the streams' versions, one
    /// inserts every event (Marten's own append runs a function call and an insert per event). The rows are what
    /// Marten writes (its serializer, type alias, .NET type name, tenant, sequence), so reads, the daemon, the chain,
    /// rebuild and verify see ordinary Marten events. The one read model that folds these events inline (usage per
    /// app and day) is folded by the same projection's rules in the same transaction.
    /// </summary>
    private async Task AppendAsync(List<Pending> batch, int writer, IReadOnlyCollection<(string Segment, long End)>? drained = null,
        IReadOnlyDictionary<object, string>? journaled = null)
    {
        var streams = batch.GroupBy(p => p.StreamId).Select(g => (Id: g.Key, Events: Packed(g.Select(p => p.Event).ToList()))).ToList();
        // With the events, what they add up to per app and minute, as one summary for the whole batch however many apps it
        // holds: followers of the ledger read one event per batch instead of every request.
        var counts = TrafficCounts.Of(batch.Select(p => p.Event)).ToList();
        if (counts.Count > 0)
        {
            var at = counts.Max(c => c.At);
            streams.Add(($"traffic:{at.UtcDateTime:yyyy-MM-dd}:{Instance}{(Writers > 1 ? $"-{writer}" : "")}", [new TrafficSummarized(at, counts)]));
        }
        await EnsureVersionsKnownAsync(streams.Select(s => s.Id));

        var rows = new EventRows(batch.Count + 1);
        var moved = new Dictionary<string, long>(streams.Count);
        foreach (var (stream, events) in streams)
        {
            var version = _versions[stream];
            foreach (var e in events) rows.Add(stream, ++version, e, _shapes.For(e.GetType()), JsonOf(e, journaled));
            moved[stream] = version;
        }
        var usage = UsageDayProjection.Sums(batch.Select(p => p.Event));

        // One round trip and one implicit transaction: the statements of a batch commit together or not at all.
        await using var write = ledger.Writes.CreateBatch();
        write.BatchCommands.Add(Command($"""
            insert into {S}.mt_streams (id, type, version, timestamp, tenant_id)
            select x.id, null, x.version, now(), '{Tenant}' from unnest($1::text[], $2::bigint[]) as x(id, version)
            on conflict (id) do update set version = excluded.version, timestamp = now()
            """, moved.Keys.ToArray(), moved.Values.ToArray()));
        write.BatchCommands.Add(Command($"""
            insert into {S}.mt_events (seq_id, id, stream_id, version, data, type, tenant_id, timestamp, mt_dotnet_type, is_archived)
            select nextval('{S}.mt_events_sequence'), x.id, x.stream_id, x.version, x.data::jsonb, x.type, '{Tenant}', now(), x.dotnet_type, false
            from unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[]) as x(id, stream_id, version, data, type, dotnet_type)
            """, rows.Ids.ToArray(), rows.Streams.ToArray(), rows.Versions.ToArray(), rows.Data.ToArray(), rows.Types.ToArray(), rows.DotNetTypes.ToArray()));
        if (usage.Count > 0)
            // Usage per app and day is a sum of its events (UsageDayProjection): the batch's sums, folded by the projection's
            // own rules, are added to the stored documents in place, so instances sharing a ledger never overwrite each other's.
            write.BatchCommands.Add(Command($"""
                insert into {_shapes.UsageTable} as d (id, data, mt_last_modified, mt_dotnet_type, mt_version)
                select x.id, x.data::jsonb, now(), $3, 1 from unnest($1::text[], $2::text[]) as x(id, data)
                on conflict (id) do update set
                  data = d.data || jsonb_build_object({_shapes.UsageSums}),
                  mt_last_modified = now(), mt_version = d.mt_version + 1
                """, usage.Select(u => u.Id).ToArray(), usage.Select(u => _shapes.Serializer.ToJson(u)).ToArray(), typeof(UsageDay).FullName!));
        if (drained is { Count: > 0 })
            // How far each journal segment is in the ledger, in the same transaction as the events: a drain that is retried
            // or resumed by the next host starts after it, so no record is appended twice.
            write.BatchCommands.Add(DrainedCommand(drained));
        try
        {
            await write.ExecuteNonQueryAsync(CancellationToken.None);
        }
        catch
        {
            // Whether the commit happened is not always knowable (a connection lost mid-commit): the versions are read again.
            foreach (var stream in moved.Keys) _versions.TryRemove(stream, out _);
            throw;
        }
        foreach (var (stream, version) in moved) _versions[stream] = version;
    }

    /// <summary>
    /// An event's JSON as stored: the text it was journaled as when it is stored as it came (a pack of accesses is written
    /// by its own converter, which writes what its accesses share once), otherwise the serializer's.
    /// </summary>
    private string JsonOf(object e, IReadOnlyDictionary<object, string>? journaled) =>
        journaled is not null && journaled.TryGetValue(e, out var json) ? json : _shapes.Serializer.ToJson(e);

    /// <summary>The most accesses one <see cref="AccessesRecorded"/> carries, so one event (and one timeline entry) stays small.</summary>
    public const int MaxPacked = 32;

    /// <summary>
    /// One stream's events of a batch as they are stored: each run of two or more consecutive allowed
    /// <see cref="AccessRecorded"/> of the same app and day becomes <see cref="AccessesRecorded"/> of at most
    /// <see cref="MaxPacked"/>; refusals and every other event stay as they came, so the ledger's order is the order the
    /// events were handed over. A row of the events table costs PostgreSQL about as much as the access it holds
    /// (docs/SCALING.md), so at load most of the rows an access cost are saved.
    /// </summary>
    public static List<object> Packed(List<object> events)
    {
        var packed = new List<object>(events.Count);
        var run = new List<AccessRecorded>();
        void Flush()
        {
            foreach (var part in run.Chunk(MaxPacked))
                packed.Add(part.Length == 1 ? part[0] : new AccessesRecorded(part[0].AppId, part.Max(x => x.At), part));
            run.Clear();
        }
        foreach (var e in events)
        {
            if (e is AccessRecorded { Decision: AccessDecisions.Allow } a)
            {
                if (run.Count > 0 && (run[0].AppId != a.AppId || run[0].At.UtcDateTime.Date != a.At.UtcDateTime.Date)) Flush();
                run.Add(a);
                continue;
            }
            Flush();
            packed.Add(e);
        }
        Flush();
        // Every pack makes the list shorter: the same length means nothing was packed.
        return packed.Count == events.Count ? events : packed;
    }

    private static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value });
        return command;
    }

    /// <summary>The current version of every stream this writer does not know yet (0 for a new one), from mt_streams.</summary>
    private async Task EnsureVersionsKnownAsync(IEnumerable<string> streams)
    {
        var unknown = streams.Where(s => !_versions.ContainsKey(s)).ToArray();
        if (unknown.Length == 0) return;
        // Streams of earlier days are finished with: forgotten, so the map holds about one stream per app.
        if (_versions.Count > 10_000) _versions.Clear();
        foreach (var stream in unknown) _versions[stream] = 0;
        await using var read = ledger.Source.CreateCommand($"select id, version from {S}.mt_streams where id = any($1)");
        read.Parameters.Add(new NpgsqlParameter { Value = unknown });
        await using var known = await read.ExecuteReaderAsync();
        while (await known.ReadAsync()) _versions[known.GetString(0)] = known.IsDBNull(1) ? 0 : known.GetInt64(1);
    }

    private const string S = LedgerSetup.Schema;
    private const string Tenant = JasperFx.StorageConstants.DefaultTenantId;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _versions = new(StringComparer.Ordinal);
    private readonly EventShapes _shapes = new(store);

    /// <summary>What Marten stores for each event type: its alias and .NET type name, read once per type from Marten's event graph.</summary>
    private sealed class EventShapes(IDocumentStore store)
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, (string Alias, string DotNetType)> _shapes = new();
        public readonly Marten.ISerializer Serializer = store.Options.Serializer();
        public readonly string UsageTable = store.Options.Schema.For(typeof(UsageDay));

        /// <summary>
        /// The arguments of jsonb_build_object that add a batch's usage to a stored document: every member the serializer
        /// writes as a number (every number of a <see cref="UsageDay"/> is a sum), stored value plus the batch's. Named
        /// from the serializer's own output, so a number added to UsageDay is summed without touching this statement.
        /// </summary>
        public readonly string UsageSums = UsageSumsOf(store.Options.Serializer());

        private static string UsageSumsOf(Marten.ISerializer serializer)
        {
            var numbers = System.Text.Json.JsonDocument.Parse(serializer.ToJson(new UsageDay())).RootElement.EnumerateObject()
                .Where(p => p.Value.ValueKind == System.Text.Json.JsonValueKind.Number).Select(p => p.Name).ToList();
            // Every numeric member must be summed: one the serializer leaves out or writes otherwise (a nullable, a number as
            // text) would silently stop adding up, so the host refuses to start instead.
            var numeric = typeof(UsageDay).GetProperties().Where(p => (Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType) is var t
                && (t == typeof(long) || t == typeof(int) || t == typeof(decimal) || t == typeof(double) || t == typeof(float))).Select(p => p.Name);
            var unsummed = numeric.Where(n => !numbers.Contains(n, StringComparer.OrdinalIgnoreCase)).ToList();
            if (unsummed.Count > 0)
                throw new InvalidOperationException($"UsageDay members not written as JSON numbers, so not summable in place: {string.Join(", ", unsummed)}");
            return string.Join(", ", numbers.Select(name => name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
                ? $"'{name}', coalesce((d.data ->> '{name}')::numeric, 0) + coalesce((excluded.data ->> '{name}')::numeric, 0)"
                : throw new InvalidOperationException($"UsageDay member '{name}' cannot be named in SQL as it is")));
        }

        public (string Alias, string DotNetType, Marten.ISerializer Serializer) For(Type type)
        {
            if (!_shapes.TryGetValue(type, out var shape))
            {
                var mapping = ((Marten.Events.EventGraph)((StoreOptions)store.Options).Events).EventMappingFor(type);
                _shapes[type] = shape = (mapping.EventTypeName, mapping.DotNetTypeName);
            }
            return (shape.Alias, shape.DotNetType, Serializer);
        }
    }

    /// <summary>
    /// JSON PostgreSQL's jsonb accepts: a NUL character (which JSON allows, written \u0000) becomes U+FFFD. Recorded text
    /// can come from a caller (an unverified token's subject, a path), and one refused event would fail its whole batch.
    /// Lone surrogates, jsonb's other refusal, the serializer already writes as U+FFFD.
    /// </summary>
    public static string JsonbSafe(string json)
    {
        var at = json.IndexOf("\\u0000", StringComparison.Ordinal);
        if (at < 0) return json;
        var text = new System.Text.StringBuilder(json.Length);
        var from = 0;
        for (; at >= 0; at = json.IndexOf("\\u0000", at + 1, StringComparison.Ordinal))
        {
            // An escape only if an even number of backslashes stands before it: in \\u0000 the first escapes the second.
            var backslashes = 0;
            for (var i = at - 1; i >= 0 && json[i] == '\\'; i--) backslashes++;
            if (backslashes % 2 != 0) continue;
            text.Append(json, from, at - from).Append("\\uFFFD");
            from = at + 6;
        }
        return text.Append(json, from, json.Length - from).ToString();
    }

    private sealed class EventRows(int capacity)
    {
        public readonly List<Guid> Ids = new(capacity);
        public readonly List<string> Streams = new(capacity), Data = new(capacity), Types = new(capacity), DotNetTypes = new(capacity);
        public readonly List<long> Versions = new(capacity);

        public void Add(string stream, long version, object e, (string Alias, string DotNetType, Marten.ISerializer Serializer) shape, string json)
        {
            Ids.Add(Guid.CreateVersion7());
            Streams.Add(stream);
            Versions.Add(version);
            Data.Add(JsonbSafe(json));
            Types.Add(shape.Alias);
            DotNetTypes.Add(shape.DotNetType);
        }
    }

    /// <summary>
    /// Whether PostgreSQL refused a batch for what one of its events holds, so that the same batch would be refused again
    /// however often it is retried: a data exception (class 22: text jsonb cannot take, a value out of range), an integrity
    /// constraint other than a unique key (class 23; a unique key is another writer's append), a program limit (class 54:
    /// a value or index row too large). Such a batch is split until the event stands alone; anything else (a lost
    /// connection, a server shutting down, a lock timeout) is retried whole.
    /// </summary>
    public static bool RefusedForItsData(PostgresException e) =>
        e.SqlState.StartsWith("22", StringComparison.Ordinal)
        || (e.SqlState.StartsWith("23", StringComparison.Ordinal) && e.SqlState != PostgresErrorCodes.UniqueViolation)
        || e.SqlState.StartsWith("54", StringComparison.Ordinal);

    /// <summary>Another writer appended to (or created) the same stream at the same moment: the transaction rolled back whole.</summary>
    public static bool IsConcurrentAppend(Exception e) =>
        e is JasperFx.ConcurrencyException or JasperFx.Events.EventStreamUnexpectedMaxEventIdException
        or JasperFx.Events.ExistingStreamIdCollisionException or Marten.Exceptions.ExistingStreamIdCollisionException
        || e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation }
        || e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };

    private static async Task<bool> WaitAsync(Channel<Pending> queue, CancellationToken stop)
    {
        try
        {
            return await queue.Reader.WaitToReadAsync(stop);
        }
        catch (OperationCanceledException)
        {
            // Stopping: refuse new work, but still commit what already waits.
            queue.Writer.TryComplete();
            return queue.Reader.TryPeek(out _);
        }
    }
}
