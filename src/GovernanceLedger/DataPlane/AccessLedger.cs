using System.Threading.Channels;
using GovernanceLedger.Infrastructure;
using Marten;
using Npgsql;

namespace GovernanceLedger.DataPlane;

/// <summary>
/// Group commit for data-plane events, into "access:{app}:{day}:{instance}" streams: one per host process, so
/// instances sharing a ledger never race for the same stream version (they would refuse each other's batches and
/// answer 503). Requests hand their event over and wait; a writer appends
/// everything that queued up meanwhile in a single transaction and then releases them all. A
/// response is sent only after its event is committed, so a killed host never leaves a served
/// response without its event, yet the ledger sees a few large batches instead of many small ones.
/// </summary>
public sealed class AccessLedger(IDocumentStore store, ILogger<AccessLedger> logger) : BackgroundService
{
    public const int MaxBatch = 2_000;
    // One writer: the usage projection updates each app's day inline, and concurrent writers would
    // only trade one commit for a conflict and a retry. Measured with 3 writers, throughput did not rise.
    public const int Writers = 1;
    private const int Attempts = 3;
    private readonly Channel<Pending>[] _queues = Enumerable.Range(0, Writers)
        .Select(_ => Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true })).ToArray();

    private int _next;

    private sealed record Pending(string StreamId, object Event, TaskCompletionSource Committed);

    /// <summary>The prefix of every access stream of an app on a day; each instance's stream follows it.</summary>
    public static string StreamPrefix(string appId, DateTimeOffset at) => $"access:{appId}:{at.UtcDateTime:yyyy-MM-dd}:";

    /// <summary>This process's part of every access stream name: random, so two instances (or a restart) never share a stream.</summary>
    public static readonly string Instance = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));

    /// <summary>Completes when the event is durably in the ledger; throws when it could not be written.</summary>
    public Task RecordAsync(string appId, DateTimeOffset at, object @event)
    {
        var shard = (int)((uint)Interlocked.Increment(ref _next) % Writers);
        var pending = new Pending(StreamPrefix(appId, at) + Instance + (Writers > 1 ? $"-{shard}" : ""), @event, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var queue = _queues[shard];
        if (!queue.Writer.TryWrite(pending))
            throw new InvalidOperationException("The access ledger is shutting down; the request is not served.");
        return pending.Committed.Task;
    }

    protected override Task ExecuteAsync(CancellationToken stop) =>
        Task.WhenAll(_queues.Select(queue => Task.Run(() => WriteAsync(queue, stop), CancellationToken.None)));

    private async Task WriteAsync(Channel<Pending> queue, CancellationToken stop)
    {
        var batch = new List<Pending>(MaxBatch);
        while (await WaitAsync(queue, stop))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && queue.Reader.TryRead(out var pending)) batch.Add(pending);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await AppendAsync(batch);
                    foreach (var pending in batch) pending.Committed.TrySetResult();
                    break;
                }
                catch (Exception e) when (attempt < Attempts && IsConcurrentAppend(e))
                {
                    // Another instance appended to one of these streams at the same version: the whole
                    // transaction rolled back, so appending the batch again writes each event once.
                    logger.LogDebug(e, "Concurrent append to an access stream; retrying batch of {Count}", batch.Count);
                }
                catch (Exception e)
                {
                    // Fail closed: every waiting request learns its event was not written and is not served.
                    logger.LogError(e, "Could not append {Count} access events", batch.Count);
                    foreach (var pending in batch) pending.Committed.TrySetException(e);
                    break;
                }
            }
        }
    }

    private async Task AppendAsync(List<Pending> batch)
    {
        await using var session = store.LightweightSession();
        foreach (var stream in batch.GroupBy(p => p.StreamId))
        {
            var events = stream.Select(p => p.Event).ToList();
            // With the events, what they add up to: followers of the ledger read one summary per app and minute.
            events.AddRange(TrafficCounts.Of(events));
            session.Events.Append(stream.Key, events.ToArray());
        }
        await session.SaveChangesAsync(CancellationToken.None);
    }

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
