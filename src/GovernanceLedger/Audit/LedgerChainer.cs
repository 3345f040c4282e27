using GovernanceLedger.Audit.Merkle;
using GovernanceLedger.Audit.Witness;
using GovernanceLedger.Contracts.Audit;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;
using Npgsql;

namespace GovernanceLedger.Audit;

/// <summary>The chainer stopped because the ledger no longer agrees with its witness; it retries, and says why until then.</summary>
public sealed class ChainHaltedException(string message) : Exception(message);

/// <summary>
/// Follows the ledger's global sequence and extends the hash chain (ledger.chain_links) over every
/// sequence number: committed events, and holes left by rolled-back transactions, recorded as such.
/// It grows the RFC 9162 Merkle tree beside the chain and, every <see cref="AuditSettings.CheckpointEvery"/>
/// events or <see cref="AuditSettings.CheckpointInterval"/>, signs a checkpoint with the checkpoint
/// key, writes it to the witness outside the database, then appends it to the ledger. A hand loop
/// rather than the async daemon: the chain must see every sequence number, holes included, in order,
/// and the daemon's high-water mark skips holes silently.
/// </summary>
public sealed partial class LedgerChainer(
    LedgerDatabase ledger, IDocumentStore store, SigningKeys keys, IChainWitness witness, AuditSettings settings, TokenSettings tokens,
    TimeProvider clock, ILogger<LedgerChainer> logger) : BackgroundService
{
    public const int BatchSize = 5000;
    private const string S = LedgerSetup.Schema;

    private long _last;
    private byte[] _lastLink = HashChain.Genesis;
    private MerkleFrontier? _frontier;
    private long _witnessed;
    private LeafBuffer _pending = new();
    private long _sinceCheckpoint;
    private DateTimeOffset _lastCheckpoint = DateTimeOffset.MinValue;
    private ChainCheckpointed? _unappended;
    private (long Sequence, DateTimeOffset SeenAt)? _gap;
    private byte[] _scratch = new byte[4096];
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _leader;

    public long LastChained => Volatile.Read(ref _last);
    /// <summary>The tree size of the latest checkpoint this chainer witnessed.</summary>
    public long Witnessed => Volatile.Read(ref _witnessed);
    /// <summary>Why chaining stopped (the ledger disagrees with the witness), or null while it runs.</summary>
    public string? Halted { get; private set; }
    public bool IsLeader => _leader;

    // A loop of its own rather than Marten's async daemon: the chain hashes each event's stored jsonb text
    // (the daemon hands over deserialized objects), in strict sequence order, and records every sequence a
    // rolled-back transaction used as a hole (the daemon skips such gaps after a while, silently).
    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                // One chainer per ledger: the instance holding this session lock extends the chain.
                await using var lease = await LeaderLease.TryAcquireAsync(ledger, "ledger-chainer", stop);
                if (lease is null)
                {
                    await Task.Delay(2000, stop);
                    continue;
                }
                using var leading = CancellationTokenSource.CreateLinkedTokenSource(stop, lease.Lost);
                try
                {
                    await _gate.WaitAsync(leading.Token);
                    try
                    {
                        await LoadAsync(leading.Token);
                    }
                    finally
                    {
                        _gate.Release();
                    }
                    Halted = null;
                    _leader = true;
                    while (!leading.IsCancellationRequested)
                    {
                        var pass = System.Diagnostics.Stopwatch.GetTimestamp();
                        var chained = await ChainAsync(leading.Token);
                        // Short idle polls keep the audit stream's lag low; an idle poll is one indexed query.
                        if (chained == 0) await Task.Delay(50, leading.Token);
                        // Under load, passes are paced so each carries what several commits added (a full pass goes on at once).
                        else if (chained < BatchSize && settings.ChainPace - System.Diagnostics.Stopwatch.GetElapsedTime(pass) is { Ticks: > 0 } rest)
                            await Task.Delay(rest, leading.Token);
                    }
                    if (lease.Lost.IsCancellationRequested) logger.LogWarning("Lost the chainer's lease (its database session ended); trying to take it again");
                }
                finally
                {
                    _leader = false;
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException)
            {
                // The lease was lost mid-step: whoever holds it now chains; this instance tries again.
                logger.LogWarning("Lost the chainer's lease (its database session ended); trying to take it again");
            }
            catch (ChainHaltedException e)
            {
                Halted = e.Message;
                logger.LogCritical("The hash chain is halted: {Reason}. Run GET /audit/verify; chaining resumes once the ledger agrees with its witness.", e.Message);
                await Task.Delay(5000, stop).ContinueWith(_ => { }, CancellationToken.None);
            }
            catch (Exception e)
            {
                logger.LogError(e, "Extending the hash chain failed; retrying");
                await Task.Delay(1000, stop).ContinueWith(_ => { }, CancellationToken.None);
            }
        }
    }

    /// <summary>Chains what is committed after the head (holes once they are old enough), then checkpoints when one is due.</summary>
    public async Task<int> ChainAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var batch = await NextAsync(ct);
            if (batch.Count > 0) await AppendAsync(batch, ct);
            await CheckpointIfDueAsync(ct);
            return batch.Count;
        }
        finally
        {
            _gate.Release();
        }
    }

    private sealed record Entry(long Sequence, byte[] Content, string Kind);

    /// <summary>The next run of sequence numbers to chain: events in order, holes in between once older than the patience.</summary>
    private async Task<List<Entry>> NextAsync(CancellationToken ct)
    {
        var entries = new List<Entry>();
        await using var connection = await ledger.Chain.OpenConnectionAsync(ct);
        await using var rows = await CopyReader.OpenAsync(connection,
            $"select seq_id, stream_id, version, type, timestamp, data, id, correlation_id, causation_id from {S}.mt_events where seq_id > {_last} order by seq_id limit {BatchSize}", ct);
        var expected = _last + 1;
        var stopped = false;
        while (await rows.ReadAsync(ct))
        {
            if (stopped) continue;   // drain the copy
            var sequence = rows.Int64(0);
            if (sequence != expected)
            {
                // Commit timing is wall-clock business, whatever the ledger's own clock says.
                var now = TimeProvider.System.GetUtcNow();
                if (_gap is not { } gap || gap.Sequence != expected) _gap = (expected, now);
                if (now - _gap.Value.SeenAt < settings.GapPatience)
                {
                    stopped = true;
                    continue;
                }
                _gap = null;
                for (var hole = expected; hole < sequence; hole++) entries.Add(new Entry(hole, HashChain.HoleContentHash(hole), "hole"));
            }
            var content = new byte[32];
            var type = rows.Bytes(3);
            HashChain.ContentHash(HashChain.CurrentFormat, sequence, rows.Bytes(1), rows.Int64(2), type, rows.Timestamp(4),
                rows.Bytes(6), rows.Bytes(7), !rows.IsNull(7), rows.Bytes(8), !rows.IsNull(8), rows.JsonbText(5), ref _scratch, content);
            entries.Add(new Entry(sequence, content, type.SequenceEqual("chain_checkpointed"u8) ? "checkpoint" : "event"));
            expected = sequence + 1;
        }
        return entries;
    }
}
