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
        var fresh = Guid.CreateVersion7().ToString("N");
        context.Items[nameof(RequestId)] = fresh;
        return fresh;
    }

    /// <summary>A sandbox request served from synthetic data: recorded apart from access events, so it is never usage.</summary>
    public Task SandboxServedAsync(HttpContext context, string route, AppCaller caller, int status, string reason, int rows,
        IReadOnlyList<string> masked, long startTimestamp) =>
        RecordAsync(context, new SandboxRequestServed(RequestId(context), caller.AppId, caller.EndUser, caller.TokenId, route, status,
            AccessDecisions.Allow, reason, rows, masked, Elapsed(startTimestamp), clock.GetUtcNow()), caller.AppId);

    /// <summary>A refusal, as an access event; a sandbox request's refusal is recorded apart, like its answers.</summary>
    public Task DeniedAsync(HttpContext context, string plane, string route, Denial denial, long startTimestamp) => denial.Sandbox
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
        return ledger.RecordAsync(appId, clock.GetUtcNow(), @event);
    }

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
