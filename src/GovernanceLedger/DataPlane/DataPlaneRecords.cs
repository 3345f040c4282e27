using System.Diagnostics;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;

namespace GovernanceLedger.DataPlane;

/// <summary>
/// Every data-plane request leaves an access record, whatever ends it. The gateway, the data proxy and topic records
/// record their own answers; this records the rest before they are answered: a path or method routing refuses (404,
/// 405, answered here with a problem naming the rule), a request the server cannot read or bind (a broken chunked
/// encoding, a query value of the wrong type), a client that closed the connection before the answer (499), an
/// unexpected failure (500); the exception handler answers those as it answers any request. Each is an AccessRecorded
/// refusal, attributed to the app when it was admitted or its token is valid.
/// </summary>
public sealed class DataPlaneRecords(RequestDelegate next, AccessRecorder recorder, DataPlaneGuard guard, ILogger<DataPlaneRecords> logger)
{
    /// <summary>The status recorded for a request whose client closed the connection before it was answered (nginx's convention).</summary>
    public const int ClientClosed = 499;

    private const string RouteItem = "data-plane.route";

    /// <summary>
    /// Names the route (a gateway route, a dataset) a request is on once its handler knows it, so a request the server
    /// fails later (a body it cannot read, a client gone) is recorded on that route and not only on its plane.
    /// </summary>
    public static void NameRoute(HttpContext context, string route) => context.Items[RouteItem] = route;

    public async Task InvokeAsync(HttpContext context)
    {
        if (!AppTokenAuthentication.IsDataPlane(context.Request.Path))
        {
            await next(context);
            return;
        }
        var start = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        catch (Exception e) when (!AccessRecorder.HasRecord(context))
        {
            // Recorded here; the exception handler then answers as it answers any such failure. A client that is gone is
            // recorded and hears nothing: there is no one to answer.
            var (status, rule, reason) = ClientFault(context, e)
                ?? (StatusCodes.Status500InternalServerError, "internal-error", "The data plane could not handle the request.");
            await TryRecordAsync(context, status, rule, reason, start);
            if (status == ClientClosed)
            {
                logger.LogDebug(e, "Client closed data-plane request {Method} {Path} before the answer", context.Request.Method, context.Request.Path);
                return;
            }
            throw;
        }
        if (AccessRecorder.HasRecord(context)) return;

        var answered = context.Response.StatusCode;
        if (answered < 400)
        {
            // Every endpoint records its own answers: one that did not is a fault to fix, never a silent gap.
            logger.LogError("Data-plane request {Method} {Path} was answered {Status} without its access record", context.Request.Method, context.Request.Path, answered);
            return;
        }
        // Refused before any endpoint recorded it: routing found no such path or not this method. Recorded, then answered
        // with a problem naming the rule while nothing has been sent yet.
        var (refusalRule, refusalReason) = answered switch
        {
            StatusCodes.Status404NotFound => ("no-such-path", "No data-plane endpoint has this path."),
            StatusCodes.Status405MethodNotAllowed => ("method-not-allowed", "This data-plane endpoint does not accept this method."),
            _ => ("refused", "The request was refused before it reached its endpoint.")
        };
        var started = context.Response.HasStarted;
        var allow = context.Response.Headers.Allow.ToString();
        if (!started) context.Response.Clear();
        var ok = await TryRecordAsync(context, answered, refusalRule, refusalReason, start);
        if (started) return;
        if (!ok)
        {
            await Problem.Unavailable("The ledger is unavailable, so the request is refused.").ToResult().ExecuteAsync(context);
            return;
        }
        if (allow.Length > 0) context.Response.Headers.Allow = allow;
        await AccessRecorder.Refusal(RefusalOf(answered, refusalRule, refusalReason)).ExecuteAsync(context);
    }

    /// <summary>
    /// A failure the client caused, as the record names it: the connection closed or reset before the answer (499, whether
    /// the server noticed through the request's abort or through a read that found the connection reset), or a request
    /// the server could not read (its own status). Null for the data plane's own failures.
    /// </summary>
    public static (int Status, string Rule, string Reason)? ClientFault(HttpContext context, Exception e) =>
        context.RequestAborted.IsCancellationRequested || e is Microsoft.AspNetCore.Connections.ConnectionResetException
            || e.InnerException is Microsoft.AspNetCore.Connections.ConnectionResetException
            ? (ClientClosed, "client-closed", "The client closed the connection before the answer.")
            : e is BadHttpRequestException bad ? (bad.StatusCode, "request", StrictJson.Bounded(bad.Message, 200)) : null;

    /// <summary>
    /// Who sent a request refused before admission, as its record names it: the app of a valid token, or the app an invalid
    /// one claims. Who sent it is the record's detail, not its condition: when it cannot be told (logged), the request is
    /// recorded as unauthenticated.
    /// </summary>
    public static async Task<(string AppId, string? ClaimedApp, string? EndUser, string? TokenId, bool Sandbox)> WhoSentAsync(
        DataPlaneGuard guard, HttpContext context, ILogger logger)
    {
        try
        {
            return await guard.IdentifyAsync(context);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Could not tell who sent data-plane request {Method} {Path}; recorded as unauthenticated", context.Request.Method, context.Request.Path);
            return (Denial.Unauthenticated, null, null, null, false);
        }
    }

    private static Denial RefusalOf(int status, string rule, string reason) =>
        new(status, rule, reason, Denial.Unauthenticated, null, null, null);

    /// <summary>Records the request; false when the ledger could not (logged).</summary>
    private async Task<bool> TryRecordAsync(HttpContext context, int status, string rule, string reason, long start)
    {
        var who = await WhoSentAsync(guard, context, logger);
        try
        {
            var (appId, claimed, endUser, tokenId, sandbox) = who;
            var plane = context.Request.Path.StartsWithSegments("/gw") ? Gateway.GatewayProxy.Plane
                : context.Request.Path.StartsWithSegments("/data") ? DataProxy.QueryDataset.Plane
                : Streaming.Topics.ReadTopic.Plane;
            var denial = new Denial(status, rule, reason, appId, claimed, endUser, tokenId, Sandbox: sandbox);
            await recorder.DeniedAsync(context, plane, context.Items[RouteItem] as string ?? plane, denial, start);
            return true;
        }
        catch (Exception e)
        {
            logger.LogError(e, "Could not record data-plane request {Method} {Path}", context.Request.Method, context.Request.Path);
            return false;
        }
    }
}
