using System.Diagnostics;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.DataPlane;

/// <summary>Builds the access event of a data-plane request and waits until the ledger holds it.</summary>
public sealed class AccessRecorder(AccessLedger ledger, TimeProvider clock, Telemetry.LedgerTelemetry telemetry)
{
    public static string RequestId(HttpContext context)
    {
        if (context.Items.TryGetValue(nameof(RequestId), out var id) && id is string existing) return existing;
        var fresh = RequestIds.Next();
        context.Items[nameof(RequestId)] = fresh;
        return fresh;
    }

    /// <summary>A sandbox request served from synthetic data: recorded apart from access events, so it is never usage.</summary>
    public Task SandboxServedAsync(HttpContext context, string route, AppCaller caller, int status, string reason, int rows,
        IReadOnlyList<string> masked, long bytesOut, long startTimestamp) =>
        RecordAsync(context, new SandboxRequestServed(RequestId(context), caller.AppId, caller.EndUser, caller.TokenId, route, status,
            AccessDecisions.Allow, reason, rows, masked, Elapsed(startTimestamp), clock.GetUtcNow(), bytesOut), caller.AppId);

    /// <summary>A refusal, as an access event; a sandbox request's refusal is recorded apart, like its answers.</summary>
    public Task DeniedAsync(HttpContext context, string plane, string route, Denial denial, long startTimestamp)
    {
        // Refused after it was admitted: the daily budget counts allowed requests only, so its unit goes back.
        ReturnUnit(context);
        return Record(context, plane, route, denial, startTimestamp);
    }

    private Task Record(HttpContext context, string plane, string route, Denial denial, long startTimestamp) => denial.Sandbox
        ? RecordAsync(context, new SandboxRequestServed(RequestId(context), denial.AppId, denial.EndUser, denial.TokenId, route, denial.Status,
            AccessDecisions.Deny, Cut($"{denial.Rule}: {denial.Reason}", AccessFieldSizes.Reason)!, 0, [], Elapsed(startTimestamp), clock.GetUtcNow()), denial.AppId)
        : RecordAsync(context, new AccessRecorded(
            RequestId(context), denial.AppId, Cut(denial.ClaimedApp, AccessFieldSizes.ClaimedApp), Cut(denial.EndUser, AccessFieldSizes.EndUser),
            Cut(denial.TokenId, AccessFieldSizes.TokenId), plane, Cut(route, AccessFieldSizes.Route)!,
            Cut(context.Request.Method, AccessFieldSizes.Method)!, Cut(context.Request.Path.Value ?? "", AccessFieldSizes.Path)!, denial.Status,
            Elapsed(startTimestamp), context.Request.ContentLength ?? 0, 0, AccessDecisions.Deny,
            Cut($"{denial.Rule}: {denial.Reason}", AccessFieldSizes.Reason)!,
            denial.PolicyId, denial.PolicyVersion, Activity.Current?.TraceId.ToString(), clock.GetUtcNow()), denial.AppId);

    public async Task AllowedAsync(
        HttpContext context, string plane, string route, AppCaller caller, int status, long bytesOut, long startTimestamp, string reason,
        IReadOnlyList<string>? maskedFields = null)
    {
        var lap = Stopwatch.GetTimestamp();
        var recorded = new AccessRecorded(
            RequestId(context), caller.AppId, null, Cut(caller.EndUser, AccessFieldSizes.EndUser), Cut(caller.TokenId, AccessFieldSizes.TokenId),
            plane, Cut(route, AccessFieldSizes.Route)!, Cut(context.Request.Method, AccessFieldSizes.Method)!,
            Cut(context.Request.Path.Value ?? "", AccessFieldSizes.Path)!, status, Elapsed(startTimestamp),
            context.Request.ContentLength ?? 0, bytesOut, AccessDecisions.Allow, Cut(reason, AccessFieldSizes.Reason)!,
            caller.PolicyId, caller.PolicyVersion, Activity.Current?.TraceId.ToString(), clock.GetUtcNow(), maskedFields);
        context.Response.Headers["X-Request-Id"] = RequestId(context);
        lap = telemetry.Lap("event_build", lap);
        await CommitAsync(context, caller.AppId, recorded);
        telemetry.Lap("commit_wait", lap);
    }

    /// <summary>
    /// A served query: one event, the query with the request it answered, where a query event and an access event used to
    /// be written (one ledger row per query instead of two). Waits until the ledger holds it.
    /// </summary>
    public async Task QueryServedAsync(HttpContext context, string plane, string route, AppCaller caller, long startTimestamp, QueryExecuted query)
    {
        var lap = Stopwatch.GetTimestamp();
        var recorded = query with
        {
            // Cut as an access event's end user is, so an end user's allowed queries and refusals count under one name.
            EndUser = Cut(query.EndUser, AccessFieldSizes.EndUser),
            Request = new QueryRequest(Cut(caller.TokenId, AccessFieldSizes.TokenId), plane, Cut(route, AccessFieldSizes.Route)!,
                Cut(context.Request.Method, AccessFieldSizes.Method)!, Cut(context.Request.Path.Value ?? "", AccessFieldSizes.Path)!,
                StatusCodes.Status200OK, Elapsed(startTimestamp), context.Request.ContentLength ?? 0)
        };
        context.Response.Headers["X-Request-Id"] = RequestId(context);
        lap = telemetry.Lap("event_build", lap);
        await CommitAsync(context, caller.AppId, recorded);
        telemetry.Lap("commit_wait", lap);
    }

    public Task RecordAsync(HttpContext context, object @event, string appId)
    {
        context.Response.Headers["X-Request-Id"] = RequestId(context);
        return CommitAsync(context, appId, @event);
    }

    /// <summary>Whether this request's record was handed to the ledger (committed, or failed and answered 503).</summary>
    public static bool HasRecord(HttpContext context) => context.Items.ContainsKey(RecordedKey);

    /// <summary>The request id of this request's record, if it has one.</summary>
    public static string? RecordedRequestId(HttpContext context) =>
        HasRecord(context) && context.Items.TryGetValue(nameof(RequestId), out var id) ? id as string : null;

    private const string RecordedKey = "AccessRecorded";

    private Task CommitAsync(HttpContext context, string appId, object @event)
    {
        context.Items[RecordedKey] = true;
        Task committed;
        try
        {
            committed = ledger.RecordAsync(appId, clock.GetUtcNow(), @event);
        }
        catch
        {
            ReturnUnit(context);
            throw;
        }
        return committed.IsCompletedSuccessfully ? committed : ReturnUnitIfUnrecordedAsync(context, committed);
    }

    /// <summary>
    /// A request whose record could not be written is answered 503, not served: whichever door it came through, its unit
    /// of the daily quota goes back, as a refusal's does (the quota counts served requests, as usage does).
    /// </summary>
    private static async Task ReturnUnitIfUnrecordedAsync(HttpContext context, Task committed)
    {
        try
        {
            await committed;
        }
        catch
        {
            ReturnUnit(context);
            throw;
        }
    }

    private static void ReturnUnit(HttpContext context) => (context.Items[nameof(UsageLimits.RequestUnit)] as UsageLimits.RequestUnit)?.Return();

    public static double Elapsed(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;

    private static string? Cut(string? text, int max) => text is null ? null : text.Length <= max ? text : text[..max];

    /// <summary>Problem+json for a refused data-plane request, with Retry-After when waiting helps.</summary>
    public static IResult Refusal(Denial denial, IReadOnlyList<Violation>? violations = null)
    {
        var problem = new Problem(denial.Status, $"https://governance-ledger.dev/problems/{denial.Rule}", denial.Status switch
        {
            401 => "Unauthenticated",
            403 => "Forbidden",
            429 => "Too many requests",
            _ => "Refused"
        }, denial.Reason, violations is { Count: > 0 } ? violations : [new Violation("", denial.Rule, denial.Reason)]);
        var result = problem.ToResult();
        return denial.RetryAfter is { } retry ? new WithRetryAfter(result, retry) : result;
    }

    private sealed class WithRetryAfter(IResult inner, TimeSpan retry) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return inner.ExecuteAsync(context);
        }
    }
}

/// <summary>
/// Request ids as version 7 UUIDs (milliseconds since 1970, then 74 random bits), 32 lower-case hex digits. The random
/// bits come from the operating system's CSPRNG a few KB at a time for each thread: one system call per 400 ids instead
/// of one per id (a read of the kernel's random source for every request was 1% of the gateway's CPU in a profile).
/// </summary>
public static class RequestIds
{
    private const int PoolSize = 4000;
    [ThreadStatic] private static byte[]? _pool;
    [ThreadStatic] private static int _next;

    public static string Next()
    {
        var pool = _pool ??= new byte[PoolSize];
        if (_next == 0 || _next + 10 > PoolSize)
        {
            System.Security.Cryptography.RandomNumberGenerator.Fill(pool);
            _next = 0;
        }
        Span<byte> id = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(id, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() << 16);
        pool.AsSpan(_next, 10).CopyTo(id[6..]);
        // Used bytes are cleared, so a copy of the pool never holds an id handed out.
        pool.AsSpan(_next, 10).Clear();
        _next += 10;
        id[6] = (byte)(0x70 | (id[6] & 0x0F));
        id[8] = (byte)(0x80 | (id[8] & 0x3F));
        return Convert.ToHexStringLower(id);
    }
}
