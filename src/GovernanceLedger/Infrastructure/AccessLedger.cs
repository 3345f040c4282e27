using System.Threading.Channels;
using Marten;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// Group commit for data-plane events. Requests hand their event over and wait; one writer appends
/// everything that queued up meanwhile in a single transaction and then releases them all. A
/// response is sent only after its event is committed, so a killed host never leaves a served
/// response without its event, yet the ledger sees a few large batches instead of many small ones.
/// </summary>
public sealed class AccessLedger(IDocumentStore store, ILogger<AccessLedger> logger) : BackgroundService
{
    public const int MaxBatch = 2_000;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });

    private sealed record Pending(string StreamId, object Event, TaskCompletionSource Committed);

    public static string StreamFor(string appId, DateTimeOffset at) => $"access:{appId}:{at.UtcDateTime:yyyy-MM-dd}";

    /// <summary>Completes when the event is durably in the ledger; throws when it could not be written.</summary>
    public Task RecordAsync(string streamId, object @event)
    {
        var pending = new Pending(streamId, @event, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
            throw new InvalidOperationException("The access ledger is shutting down; the request is not served.");
        return pending.Committed.Task;
    }

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        var batch = new List<Pending>(MaxBatch);
        while (await WaitAsync(stop))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending)) batch.Add(pending);
            try
            {
                await using var session = store.LightweightSession();
                foreach (var stream in batch.GroupBy(p => p.StreamId))
                    session.Events.Append(stream.Key, stream.Select(p => p.Event).ToArray());
                await session.SaveChangesAsync(CancellationToken.None);
                foreach (var pending in batch) pending.Committed.TrySetResult();
            }
            catch (Exception e)
            {
                // Fail closed: every waiting request learns its event was not written and is not served.
                logger.LogError(e, "Could not append {Count} access events", batch.Count);
                foreach (var pending in batch) pending.Committed.TrySetException(e);
            }
        }
    }

    private async Task<bool> WaitAsync(CancellationToken stop)
    {
        try
        {
            return await _queue.Reader.WaitToReadAsync(stop);
        }
        catch (OperationCanceledException)
        {
            // Stopping: refuse new work, but still commit what already waits.
            _queue.Writer.TryComplete();
            return _queue.Reader.TryPeek(out _);
        }
    }
}
