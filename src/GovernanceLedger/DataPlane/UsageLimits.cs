using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using Npgsql;
using Weasel.Core;

namespace GovernanceLedger.DataPlane;

/// <summary>
/// Per-app limits that hold across every instance of the ledger.
/// <list type="bullet">
/// <item>Daily request and row budgets are counted in PostgreSQL (<c>quota_counters</c>). An instance claims a lease of a
/// budget (a fiftieth of it, at least 1, at most 1,000) and spends it in memory, so the database is asked once per
/// lease rather than per request. When less than half a lease is left, the next one is claimed in the background, so
/// requests do not queue behind the claim. Nothing is spent that was not claimed, so together the instances never
/// exceed a budget. Near the end of a day's budget, what other instances hold unused (up to one and a half leases each)
/// may refuse up to (instances − 1) × 1.5 × lease requests early; a stopping instance hands its unused leases back.</item>
/// <item>The per-second rate is shared among the live instances (each announces itself every two seconds in
/// <c>data_plane_instances</c>): each allows ⌈rate ÷ instances⌉ a second, so together at most rate + instances − 1.
/// For up to <see cref="Heartbeat"/> after an instance starts or stops, the others still use the old share.</item>
/// </list>
/// </summary>
public sealed class UsageLimits(LedgerDatabase ledger, TimeProvider clock, ILogger<UsageLimits> logger) : BackgroundService
{
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Liveness = Heartbeat * 3;
    private const string Requests = "requests";
    private const string Rows = "rows";
    private const string S = LedgerSetup.Schema;

    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly ConcurrentDictionary<string, (int Share, TokenBucketRateLimiter Limiter)> _limiters = new();
    private readonly ConcurrentDictionary<(string App, DateOnly Day, string Kind), Lease> _leases = new();
    private int _instances = 1;
    private volatile bool _stopping;

    /// <summary>How many instances share the rates now (this one included).</summary>
    public int Instances => Volatile.Read(ref _instances);

    /// <summary>Part of one app's budget of one kind for one day, claimed by this instance and not yet spent.</summary>
    public sealed class Lease
    {
        public required DateOnly Day { get; init; }
        public long Available;
        public readonly SemaphoreSlim Claiming = new(1, 1);
        /// <summary>1 while a claim ahead of need is under way.</summary>
        public int ClaimingAhead;
        /// <summary>The last claim ahead got less than a lease: the budget is spent, so none is tried until a claim on demand gets some.</summary>
        public volatile bool SpentAhead;
    }

    public static IEnumerable<ISchemaObject> Objects()
    {
        var counters = new Weasel.Postgresql.Tables.Table(LedgerSetup.ObjectName(S, "quota_counters"));
        counters.AddColumn("app_id", "text").AsPrimaryKey();
        counters.AddColumn("day", "date").AsPrimaryKey();
        counters.AddColumn("kind", "text").AsPrimaryKey();
        counters.AddColumn<long>("used").NotNull();
        yield return counters;
        var instances = new Weasel.Postgresql.Tables.Table(LedgerSetup.ObjectName(S, "data_plane_instances"));
        instances.AddColumn("instance_id", "text").AsPrimaryKey();
        instances.AddColumn("seen_at", "timestamptz").NotNull();
        yield return instances;
    }

    /// <summary>The rate bucket of an app's sandbox requests (an app id has no line break, so it names no app's own bucket).</summary>
    public static string SandboxBucket(string appId) => appId + "\nsandbox";

    public (bool Allowed, TimeSpan RetryAfter) TryRate(string appId, int requestsPerSecond)
    {
        var share = (int)Math.Ceiling(requestsPerSecond / (double)Instances);
        var entry = _limiters.AddOrUpdate(appId,
            _ => (share, NewLimiter(share)),
            (_, existing) => existing.Share == share ? existing : (share, NewLimiter(share)));
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

    /// <summary>
    /// Counts one request against today's budget, or says how long until the budget resets. The unit taken goes back
    /// into the budget if the request is refused after all (<see cref="RequestUnit.Return"/>).
    /// </summary>
    public async Task<(bool Allowed, TimeSpan RetryAfter, RequestUnit? Unit)> TryRequestAsync(string appId, AppQuotas quotas)
    {
        var lease = LeaseFor(appId, Requests);
        return await TakeAsync(lease, appId, Requests, quotas.EffectiveRequestsPerDay, 1) == 1
            ? (true, TimeSpan.Zero, new RequestUnit(lease))
            : (false, UntilMidnight(), null);
    }

    /// <summary>
    /// The unit of the daily request budget an admitted request took. A request refused after it was admitted (its body,
    /// a field it may not read, the source's refusal) is recorded as a refusal, and the budget counts allowed requests
    /// only, as the ledger does when it recounts a lost counter: so the unit goes back, once, into the lease it came from.
    /// </summary>
    public sealed class RequestUnit(Lease lease)
    {
        private int _returned;

        public void Return()
        {
            if (Interlocked.Exchange(ref _returned, 1) == 0) Interlocked.Increment(ref lease.Available);
        }
    }

    /// <summary>
    /// Reserves up to <paramref name="wanted"/> of today's rows for one query. The query reads at most what was
    /// reserved and marks what it read; disposing the reservation hands the rest back, on every way out.
    /// </summary>
    public async Task<(bool Allowed, TimeSpan RetryAfter, RowReservation Reservation)> ReserveRowsAsync(string appId, AppQuotas quotas, long wanted)
    {
        var lease = LeaseFor(appId, Rows);
        var reserved = await TakeAsync(lease, appId, Rows, quotas.EffectiveRowsPerDay, wanted);
        var reservation = new RowReservation(lease, reserved);
        return reserved > 0 ? (true, TimeSpan.Zero, reservation) : (false, UntilMidnight(), reservation);
    }

    public sealed class RowReservation(Lease lease, long reserved) : IDisposable
    {
        private long _read;
        public long Reserved => reserved;
        public void Read(long rows) => _read = rows;

        public void Dispose()
        {
            var unused = reserved - _read;
            // Back into the lease it came from: the day it was claimed for, even after midnight.
            if (unused > 0) Interlocked.Add(ref lease.Available, unused);
            _read = reserved;
        }
    }

    private TimeSpan UntilMidnight()
    {
        var now = clock.GetUtcNow();
        return new DateTimeOffset(now.UtcDateTime.Date.AddDays(1), TimeSpan.Zero) - now;
    }

    private DateOnly Today => DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);

    private Lease LeaseFor(string appId, string kind)
    {
        var day = Today;
        return _leases.GetOrAdd((appId, day, kind), _ => new Lease { Day = day });
    }

    /// <summary>Takes up to <paramref name="wanted"/> from the lease in memory, claiming more of the shared budget when it runs short.</summary>
    private async Task<long> TakeAsync(Lease lease, string appId, string kind, long limit, long wanted)
    {
        if (TryTakeLocal(lease, wanted))
        {
            ClaimAheadWhenLow(lease, appId, kind, limit);
            return wanted;
        }
        await lease.Claiming.WaitAsync();
        try
        {
            if (TryTakeLocal(lease, wanted)) return wanted;
            var local = Interlocked.Exchange(ref lease.Available, 0);
            var claimed = await ClaimAsync(appId, lease.Day, kind, limit, Math.Max(wanted - local, LeaseSize(limit)));
            if (claimed > 0) lease.SpentAhead = false;
            var granted = Math.Min(local + claimed, wanted);
            Interlocked.Add(ref lease.Available, local + claimed - granted);
            return granted;
        }
        finally
        {
            lease.Claiming.Release();
        }
    }

    /// <summary>
    /// With less than half a lease left, claims the next one in the background: requests go on spending what is left
    /// instead of queueing behind a round trip to the database when it runs out.
    /// </summary>
    private void ClaimAheadWhenLow(Lease lease, string appId, string kind, long limit)
    {
        var size = LeaseSize(limit);
        if (Volatile.Read(ref lease.Available) * 2 >= size || lease.SpentAhead || _stopping) return;
        if (Interlocked.CompareExchange(ref lease.ClaimingAhead, 1, 0) != 0) return;
        _ = Task.Run(async () =>
        {
            try
            {
                // A claim on demand already under way brings its own lease.
                if (!await lease.Claiming.WaitAsync(0)) return;
                try
                {
                    // Stopping: what is left is being handed back, and a lease claimed now would never be.
                    if (_stopping || Volatile.Read(ref lease.Available) * 2 >= size) return;
                    var claimed = await ClaimAsync(appId, lease.Day, kind, limit, size);
                    if (claimed < size) lease.SpentAhead = true;
                    Interlocked.Add(ref lease.Available, claimed);
                }
                finally
                {
                    lease.Claiming.Release();
                }
            }
            catch (Exception e)
            {
                // Nothing was added: the requests claim on demand when what is left runs out.
                logger.LogWarning(e, "Could not claim the next {Kind} lease of app {AppId} ahead of need", kind, appId);
            }
            finally
            {
                Volatile.Write(ref lease.ClaimingAhead, 0);
            }
        });
    }

    private static bool TryTakeLocal(Lease lease, long wanted)
    {
        for (var available = Volatile.Read(ref lease.Available); available >= wanted; available = Volatile.Read(ref lease.Available))
            if (Interlocked.CompareExchange(ref lease.Available, available - wanted, available) == available)
                return true;
        return false;
    }

    public static long LeaseSize(long limit) => Math.Clamp(limit / 50, 1, 1_000);

    /// <summary>Claims up to <paramref name="amount"/> of the day's budget; never past <paramref name="limit"/>, even when the limit was lowered.</summary>
    private async Task<long> ClaimAsync(string appId, DateOnly day, string kind, long limit, long amount)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            await using (var claim = ledger.Source.CreateCommand($"""
                with current as (select used from {S}.quota_counters where app_id = $1 and day = $2 and kind = $3 for update)
                update {S}.quota_counters q set used = least(current.used + $4, greatest($5, current.used))
                from current where q.app_id = $1 and q.day = $2 and q.kind = $3
                returning q.used - current.used
                """))
            {
                claim.Parameters.Add(new NpgsqlParameter { Value = appId });
                claim.Parameters.Add(new NpgsqlParameter { Value = day });
                claim.Parameters.Add(new NpgsqlParameter { Value = kind });
                claim.Parameters.Add(new NpgsqlParameter { Value = amount });
                claim.Parameters.Add(new NpgsqlParameter { Value = limit });
                if (await claim.ExecuteScalarAsync() is long claimed) return claimed;
            }
            // The day's first claim by any instance: start from what the ledger already recorded today (an
            // upgrade mid-day, or a counter row lost), then claim again.
            var seed = await RecordedTodayAsync(appId, day, kind);
            await using var insert = ledger.Source.CreateCommand(
                $"insert into {S}.quota_counters (app_id, day, kind, used) values ($1, $2, $3, $4) on conflict do nothing");
            insert.Parameters.Add(new NpgsqlParameter { Value = appId });
            insert.Parameters.Add(new NpgsqlParameter { Value = day });
            insert.Parameters.Add(new NpgsqlParameter { Value = kind });
            insert.Parameters.Add(new NpgsqlParameter { Value = seed });
            await insert.ExecuteNonQueryAsync();
        }
        throw new InvalidOperationException($"The {kind} counter of app '{appId}' for {day} could not be created.");
    }

    private async Task<long> RecordedTodayAsync(string appId, DateOnly day, string kind)
    {
        var at = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        await using var command = ledger.Source.CreateCommand(kind == Requests
            // Allowed requests: access events, each access of accesses committed together (its decision its own or shared), and queries that carry their request (QueryExecuted.Request).
            ? $"""
                select coalesce(sum(case when type = 'accesses_recorded'
                    then (select count(*) from jsonb_array_elements(data->'{nameof(AccessesRecorded.Accesses)}') a
                          where coalesce(a->>'{nameof(AccessRecorded.Decision)}', data->'{AccessesRecordedJson.Shared}'->>'{nameof(AccessRecorded.Decision)}') = '{AccessDecisions.Allow}')
                    else 1 end), 0)::bigint
                from {S}.mt_events where starts_with(stream_id, $1) and (type = 'access_recorded' and data->>'{nameof(AccessRecorded.Decision)}' = '{AccessDecisions.Allow}'
                  or type = 'accesses_recorded' or type = 'query_executed' and jsonb_typeof(data->'{nameof(QueryExecuted.Request)}') = 'object')
                """
            : $"select coalesce(sum((data->>'{nameof(QueryExecuted.Rows)}')::bigint), 0)::bigint from {S}.mt_events where starts_with(stream_id, $1) and type = 'query_executed'");
        // Every instance's stream of the app's day.
        command.Parameters.Add(new NpgsqlParameter { Value = AccessLedger.StreamPrefix(appId, at) });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    // A loop of its own rather than a Marten subscription: every instance must announce itself to share the rates.
    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var beat = ledger.Source.CreateBatch();
                var announce = new NpgsqlBatchCommand($"insert into {S}.data_plane_instances (instance_id, seen_at) values ($1, now()) on conflict (instance_id) do update set seen_at = now()");
                announce.Parameters.Add(new NpgsqlParameter { Value = _instance });
                beat.BatchCommands.Add(announce);
                beat.BatchCommands.Add(new NpgsqlBatchCommand($"delete from {S}.data_plane_instances where seen_at < now() - interval '10 minutes'"));
                var count = new NpgsqlBatchCommand($"select count(*) from {S}.data_plane_instances where seen_at > now() - $1::interval");
                count.Parameters.Add(new NpgsqlParameter { Value = Liveness });
                beat.BatchCommands.Add(count);
                var live = (long)(await beat.ExecuteScalarAsync(stop))!;
                Volatile.Write(ref _instances, (int)Math.Max(1, live));
                ForgetEarlierDays();
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                // The last known share stays in force; the next heartbeat tries again.
                logger.LogWarning(e, "Could not announce this instance for the shared rate limits");
            }
            await Task.Delay(Heartbeat, stop).ContinueWith(_ => { }, CancellationToken.None);
        }
    }

    private void ForgetEarlierDays()
    {
        var today = Today;
        foreach (var key in _leases.Keys.Where(k => k.Day < today)) _leases.TryRemove(key, out _);
    }

    /// <summary>Hands unused leases back and leaves the instance count, so the others take over the whole budget and rate.</summary>
    public override async Task StopAsync(CancellationToken ct)
    {
        _stopping = true;
        await base.StopAsync(ct);
        try
        {
            await using var batch = ledger.Source.CreateBatch();
            foreach (var ((app, day, kind), lease) in _leases)
            {
                // A claim still under way adds its lease first, so that is handed back too.
                // Without the stop token: a cancelled wait must not skip handing back the other leases.
                var waited = await lease.Claiming.WaitAsync(TimeSpan.FromSeconds(5));
                var unused = Interlocked.Exchange(ref lease.Available, 0);
                if (waited) lease.Claiming.Release();
                if (unused <= 0) continue;
                var giveBack = new NpgsqlBatchCommand($"update {S}.quota_counters set used = greatest(used - $4, 0) where app_id = $1 and day = $2 and kind = $3");
                giveBack.Parameters.Add(new NpgsqlParameter { Value = app });
                giveBack.Parameters.Add(new NpgsqlParameter { Value = day });
                giveBack.Parameters.Add(new NpgsqlParameter { Value = kind });
                giveBack.Parameters.Add(new NpgsqlParameter { Value = unused });
                batch.BatchCommands.Add(giveBack);
            }
            var leave = new NpgsqlBatchCommand($"delete from {S}.data_plane_instances where instance_id = $1");
            leave.Parameters.Add(new NpgsqlParameter { Value = _instance });
            batch.BatchCommands.Add(leave);
            await batch.ExecuteNonQueryAsync(ct);
        }
        catch (Exception e)
        {
            // Unreturned leases only mean the day's budget runs out a little early; the instance row expires by itself.
            logger.LogWarning(e, "Could not hand back unused quota leases on stopping");
        }
    }

    public override void Dispose()
    {
        foreach (var (_, limiter) in _limiters.Values) limiter.Dispose();
        base.Dispose();
    }
}
