using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using Npgsql;

namespace GovernanceLedger.DataPlane;

/// <summary>
/// Per-app rate limits (a token bucket per second) and daily budgets (requests, rows). Daily
/// counters live in memory and are seeded from the day's access stream the first time an app is
/// seen that day, so a restart does not hand out a fresh budget.
/// </summary>
public sealed class UsageLimits(LedgerDatabase ledger, TimeProvider clock) : IDisposable
{
    private readonly ConcurrentDictionary<string, (int PerSecond, TokenBucketRateLimiter Limiter)> _limiters = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<DailyCounter>>> _daily = new();

    public sealed class DailyCounter(long requests, long rows)
    {
        public long Requests = requests;
        public long Rows = rows;
    }

    public (bool Allowed, TimeSpan RetryAfter) TryRate(string appId, AppQuotas quotas)
    {
        var perSecond = quotas.EffectiveRequestsPerSecond;
        var entry = _limiters.AddOrUpdate(appId,
            _ => (perSecond, NewLimiter(perSecond)),
            (_, existing) => existing.PerSecond == perSecond ? existing : (perSecond, NewLimiter(perSecond)));
        using var lease = entry.Limiter.AttemptAcquire();
        if (lease.IsAcquired) return (true, TimeSpan.Zero);
        return (false, lease.TryGetMetadata(MetadataName.RetryAfter, out var retry) ? retry : TimeSpan.FromSeconds(1));
    }

    private static TokenBucketRateLimiter NewLimiter(int perSecond) => new(new TokenBucketRateLimiterOptions
    {
        TokenLimit = perSecond,
        TokensPerPeriod = perSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        AutoReplenishment = true
    });

    /// <summary>Counts one request against today's budget, or says how long until the budget resets.</summary>
    public async Task<(bool Allowed, TimeSpan RetryAfter)> TryRequestAsync(string appId, AppQuotas quotas)
    {
        var counter = await TodayAsync(appId);
        if (Interlocked.Increment(ref counter.Requests) <= quotas.EffectiveRequestsPerDay) return (true, TimeSpan.Zero);
        Interlocked.Decrement(ref counter.Requests);
        return (false, UntilMidnight());
    }

    public async Task<(bool Allowed, TimeSpan RetryAfter, long Remaining)> RowBudgetAsync(string appId, AppQuotas quotas)
    {
        var counter = await TodayAsync(appId);
        var remaining = quotas.EffectiveRowsPerDay - Interlocked.Read(ref counter.Rows);
        return remaining > 0 ? (true, TimeSpan.Zero, remaining) : (false, UntilMidnight(), 0);
    }

    public async Task SpendRowsAsync(string appId, long rows)
    {
        var counter = await TodayAsync(appId);
        Interlocked.Add(ref counter.Rows, rows);
    }

    private TimeSpan UntilMidnight()
    {
        var now = clock.GetUtcNow();
        var midnight = new DateTimeOffset(now.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
        return midnight - now;
    }

    private Task<DailyCounter> TodayAsync(string appId)
    {
        var stream = AccessLedger.StreamPrefix(appId, clock.GetUtcNow());
        var lazy = _daily.GetOrAdd(stream, s => new Lazy<Task<DailyCounter>>(() => SeedAsync(s)));
        if (lazy.Value.IsFaulted) _daily.TryRemove(new(stream, lazy));   // try the seed again next time
        return lazy.Value;
    }

    private async Task<DailyCounter> SeedAsync(string stream)
    {
        await using var command = ledger.Source.CreateCommand($"""
            select count(*) filter (where type = 'access_recorded' and data->>'{nameof(AccessRecorded.Decision)}' = '{AccessDecisions.Allow}'),
                   coalesce(sum((data->>'{nameof(QueryExecuted.Rows)}')::bigint) filter (where type = 'query_executed'), 0)
            from {LedgerSetup.Schema}.mt_events where stream_id = any(@streams)
            """);
        command.Parameters.AddWithValue("streams", Enumerable.Range(0, AccessLedger.Writers).Select(shard => stream + shard).ToArray());
        try
        {
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return new DailyCounter(reader.GetInt64(0), reader.GetInt64(1));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return new DailyCounter(0, 0);
        }
    }

    public void Dispose()
    {
        foreach (var (_, limiter) in _limiters.Values) limiter.Dispose();
    }
}
