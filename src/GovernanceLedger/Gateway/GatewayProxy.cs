using System.Diagnostics;
using System.Net;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Telemetry;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;

namespace GovernanceLedger.Gateway;

/// <summary>
/// /gw/{route}/{**rest}: admit the app (token, status, scopes, rate, quota), validate the body,
/// forward with YARP, and commit the access event before the response is sent. Denials are
/// committed before the refusal is written.
/// </summary>
public sealed class GatewayProxy(
    IHttpForwarder forwarder, DataPlaneGuard guard, AccessRecorder recorder, BodySchemas schemas,
    IOptionsMonitor<GatewayOptions> options, LedgerTelemetry telemetry, ILogger<GatewayProxy> logger)
{
    public const string Plane = "gateway";
    private readonly HttpMessageInvoker _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        EnableMultipleHttp2Connections = true,
        ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
        ConnectTimeout = TimeSpan.FromSeconds(10)
    });

    private AccessRecorder Recorder => recorder;
    private ILogger Logger => logger;

    public async Task HandleAsync(HttpContext context, string route, string? rest)
    {
        var start = Stopwatch.GetTimestamp();
        using var activity = LedgerTelemetry.Source.StartActivity("gateway.request");
        activity?.SetTag("gateway.route", route);
        var config = options.CurrentValue;
        var target = config.Routes.FirstOrDefault(r => string.Equals(r.Name, route, StringComparison.Ordinal));

        var (caller, denial) = target is null
            ? (null, new Denial(StatusCodes.Status404NotFound, "unknown-route", $"No gateway route '{route}'.", Denial.Unauthenticated, null, null, null))
            : !target.Scopes.TryGetValue(context.Request.Method, out var required)
                ? (null, new Denial(StatusCodes.Status405MethodNotAllowed, "method-not-allowed",
                    $"Route '{route}' does not accept {context.Request.Method}.", Denial.Unauthenticated, null, null, null))
                : await guard.AdmitAsync(context, required);

        if (caller is not null && target!.BodySchema is { } schema && context.Request.Method is "POST" or "PUT" or "PATCH")
            denial = await ValidateBodyAsync(context, caller, schema, config.MaxBodyBytes);

        if (denial is not null || caller is null)
        {
            denial ??= new Denial(StatusCodes.Status403Forbidden, "not-admitted", "The request was not admitted.", Denial.Unauthenticated, null, null, null);
            activity?.SetTag("app_id", denial.AppId);
            await RefuseAsync(context, route, denial, start);
            return;
        }

        activity?.SetTag("app_id", caller.AppId);
        activity?.SetTag("owner", caller.App.Owner);
        context.Items[nameof(AppCaller)] = caller;
        context.Items["gateway.route"] = route;
        context.Items["gateway.start"] = start;
        var error = await forwarder.SendAsync(context, target!.Upstream, _client, ForwarderRequestConfig.Empty,
            new Transformer(this, rest ?? ""));
        if (error != ForwarderError.None && !context.Items.ContainsKey("gateway.recorded"))
        {
            // The upstream failed before answering: nothing was served, but the attempt is recorded.
            var failure = context.Features.Get<IForwarderErrorFeature>()?.Exception?.Message ?? error.ToString();
            logger.LogWarning("Gateway route {Route} failed: {Error}", route, failure);
            await recorder.AllowedAsync(context, Plane, route, caller, context.Response.StatusCode, 0, start, $"upstream error: {error}");
        }
        Count(caller.AppId, route, context.Response.StatusCode, "allow", start);
    }

    private async Task RefuseAsync(HttpContext context, string route, Denial denial, long start)
    {
        try
        {
            await recorder.DeniedAsync(context, Plane, route, denial, start);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Could not record a denial; answering 503");
            await Problem.Unavailable("The ledger is unavailable, so the request is refused.").ToResult().ExecuteAsync(context);
            return;
        }
        Count(denial.AppId, route, denial.Status, "deny", start);
        await AccessRecorder.Refusal(denial).ExecuteAsync(context);
    }

    private async Task<Denial?> ValidateBodyAsync(HttpContext context, AppCaller caller, string schema, int maxBytes)
    {
        context.Request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: maxBytes + 1);
        using var buffer = new MemoryStream();
        try
        {
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        }
        catch (IOException)
        {
            return new Denial(StatusCodes.Status413PayloadTooLarge, "max-body-bytes", $"Request bodies are limited to {maxBytes} bytes.",
                caller.AppId, null, caller.EndUser, caller.TokenId, caller.PolicyId, caller.PolicyVersion);
        }
        if (buffer.Length > maxBytes)
            return new Denial(StatusCodes.Status413PayloadTooLarge, "max-body-bytes", $"Request bodies are limited to {maxBytes} bytes.",
                caller.AppId, null, caller.EndUser, caller.TokenId, caller.PolicyId, caller.PolicyVersion);
        context.Request.Body.Position = 0;

        var violations = schemas.Validate(schema, buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
        if (violations.Count == 0) return null;
        var detail = string.Join("; ", violations.Select(v => $"{(v.Field.Length == 0 ? "(body)" : v.Field)}: {v.Rule}"));
        return new Denial(StatusCodes.Status400BadRequest, "body-schema", $"The body does not match {schema}: {detail}",
            caller.AppId, null, caller.EndUser, caller.TokenId, caller.PolicyId, caller.PolicyVersion);
    }

    private void Count(string appId, string route, int status, string decision, long start)
    {
        var tags = new TagList { { "app_id", appId }, { "route", route }, { "status", status }, { "decision", decision } };
        telemetry.GatewayRequests.Add(1, tags);
        telemetry.GatewayDuration.Record(AccessRecorder.Elapsed(start), tags);
    }

    /// <summary>Rewrites the path, strips the app token, and commits the access event once the upstream has answered.</summary>
    private sealed class Transformer(GatewayProxy gateway, string rest) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext context, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken ct)
        {
            await base.TransformRequestAsync(context, proxyRequest, destinationPrefix, ct);
            var caller = (AppCaller)context.Items[nameof(AppCaller)]!;
            proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, "/" + rest, context.Request.QueryString);
            proxyRequest.Headers.Authorization = null;
            proxyRequest.Headers.Remove("Cookie");
            proxyRequest.Headers.TryAddWithoutValidation("X-App-Id", caller.AppId);
            if (caller.EndUser is { } user) proxyRequest.Headers.TryAddWithoutValidation("X-End-User", user);
            proxyRequest.Headers.TryAddWithoutValidation("X-Request-Id", AccessRecorder.RequestId(context));
            proxyRequest.Headers.Host = null;
        }

        public override async ValueTask<bool> TransformResponseAsync(HttpContext context, HttpResponseMessage? proxyResponse, CancellationToken ct)
        {
            if (proxyResponse is null) return await base.TransformResponseAsync(context, proxyResponse, ct);
            var caller = (AppCaller)context.Items[nameof(AppCaller)]!;
            var route = (string)context.Items["gateway.route"]!;
            var start = (long)context.Items["gateway.start"]!;
            try
            {
                await gateway.Recorder.AllowedAsync(context, Plane, route, caller, (int)proxyResponse.StatusCode,
                    proxyResponse.Content.Headers.ContentLength ?? 0, start, "served");
                context.Items["gateway.recorded"] = true;
            }
            catch (Exception e)
            {
                // Nothing is served without its access event (fail closed).
                gateway.Logger.LogError(e, "Could not record an access; answering 503 instead of the upstream response");
                context.Items["gateway.recorded"] = true;
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return false;
            }
            return await base.TransformResponseAsync(context, proxyResponse, ct);
        }
    }
}
