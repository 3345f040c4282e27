using System.Buffers;
using GovernanceLedger.Contracts.Access;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using GovernanceLedger.DataPlane;
using GovernanceLedger.DataProxy.Revealing;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Telemetry;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace GovernanceLedger.Gateway;

/// <summary>
/// /gw/{route}/{**rest}: find the exposed path, admit the app (token, status, scopes, rate, quota),
/// check the body, forward with YARP under the gateway's own identity headers, mask PII in the
/// answer, and commit the access event before the response is sent. Denials are committed before
/// the refusal is written; an unexpected failure is recorded too.
/// </summary>
public sealed class GatewayProxy(
    IHttpForwarder forwarder, DataPlaneGuard guard, AccessRecorder recorder, BodySchemas schemas, Masking masking,
    IOptionsMonitor<GatewayOptions> options, IOptionsMonitor<DataCatalog> catalog, LedgerTelemetry telemetry, ILogger<GatewayProxy> logger,
    DataProxy.SandboxData sandbox, RevealGate revealGate, TimeProvider clock)
{
    public const string Plane = "gateway";
    private const string UnknownRoute = "unknown";
    private AccessRecorder Recorder => recorder;
    private TimeProvider Clock => clock;
    private Masking Masking => masking;
    private ILogger Logger => logger;
    private LedgerTelemetry Telemetry => telemetry;
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

    public async Task HandleAsync(HttpContext context, string route)
    {
        var start = Stopwatch.GetTimestamp();
        // A client's traceparent, baggage or Correlation-Context must not become the ledger's trace id or reach
        // the upstream: every gateway request starts a trace of its own.
        Activity.Current = null;
        using var activity = LedgerTelemetry.Source.StartActivity("gateway.request");
        var config = options.CurrentValue;
        GatewayRoute? target = null;
        foreach (var r in config.Routes)
            if (string.Equals(r.Name, route, StringComparison.Ordinal)) { target = r; break; }
        var label = target?.Name ?? UnknownRoute;
        DataPlaneRecords.NameRoute(context, label);
        activity?.SetTag("gateway.route", label);
        try
        {
            await ServeAsync(context, target, label, config, start, activity);
        }
        // A failure the client caused (gone, reset, an unreadable request) is recorded as such by DataPlaneRecords.
        catch (Exception e) when (!context.Response.HasStarted && DataPlaneRecords.ClientFault(context, e) is null)
        {
            // Whatever went wrong, the attempt is in the ledger and the caller learns nothing of the internals.
            logger.LogError(e, "Gateway request on route {Route} failed", label);
            var caller = context.Items[nameof(AppCaller)] as AppCaller;
            await RefuseAsync(context, label, new Denial(StatusCodes.Status500InternalServerError, "internal-error",
                "The gateway could not handle the request.", caller?.AppId ?? Denial.Unauthenticated, null, caller?.EndUser, caller?.TokenId), start);
        }
    }

    private async Task ServeAsync(HttpContext context, GatewayRoute? target, string label, GatewayOptions config, long start, Activity? activity)
    {
        if (target is null)
        {
            // Refused before admission (there is no route to admit to), and still on the timeline of the app whose token it
            // carries, or of the app an invalid token claims: probing for route names is not done off the record.
            var (appId, claimed, endUser, tokenId, sandbox) = await DataPlaneRecords.WhoSentAsync(guard, context, logger);
            await RefuseAsync(context, label, new Denial(StatusCodes.Status404NotFound, "unknown-route",
                "No such gateway route.", appId, claimed, endUser, tokenId, Sandbox: sandbox), start);
            return;
        }

        var path = RemainderOf(context.Request.Path, target.Name);
        var (outcome, exposed) = RouteMatch.Find(target, context.Request.Method, path);
        var (caller, denial) = await guard.AdmitAsync(context, exposed?.Scopes ?? [], countRequest: exposed is not null, allowSandbox: true);
        var lap = Stopwatch.GetTimestamp();
        var violations = new List<Violation>();
        denial ??= IsUpgrade(context) ? caller!.Deny(StatusCodes.Status400BadRequest, "upgrade-not-allowed",
                "The gateway answers one request with one response: a connection upgrade (WebSocket or any other protocol) is not forwarded.")
            : outcome switch
        {
            RouteMatch.Outcome.NotExposed => caller!.Deny(StatusCodes.Status404NotFound, "path-not-exposed",
                $"Route '{target.Name}' does not expose this path."),
            RouteMatch.Outcome.MethodNotAllowed => caller!.Deny(StatusCodes.Status405MethodNotAllowed, "method-not-allowed",
                $"Route '{target.Name}' does not accept {StrictJson.Bounded(context.Request.Method, 16)} on this path."),
            _ => await CheckBodyAsync(context, caller!, exposed!, config.MaxBodyBytes, violations)
        };
        if (denial is not null || caller is null)
        {
            activity?.SetTag("app_id", denial?.AppId);
            await RefuseAsync(context, label, denial!, start, violations);
            return;
        }
        lap = telemetry.Lap("schema", lap);

        activity?.SetTag("app_id", caller.AppId);
        var dataset = target.Dataset is { } name ? DatasetNamed(catalog.CurrentValue.DatasetList, name) : null;
        // PII is shown as the data proxy shows it: the PII scope on token and grant, then the reveal policies for this end user now.
        var reveal = dataset is { Pii.Count: > 0 } && caller.MayReadPii(catalog.CurrentValue.PiiScope)
            ? await revealGate.DecideAsync(context, caller, dataset.Name, dataset.RevealRequiresReason, dataset.Pii, context.RequestAborted)
            : null;
        var shape = dataset is null ? null : new Shape(dataset,
            MaskPii: dataset.Pii.Count > 0 && reveal is not { Reveal: true },
            Granted: GrantedFields(caller, dataset.Name));
        if (reveal is { Reveal: false } withheld)
            context.Response.Headers["X-PII-Step-Up"] = string.Join("; ", withheld.StepUp);
        lap = telemetry.Lap("reveal", lap);
        // A sandbox token is never forwarded: the route's upstream is simulated from synthetic rows.
        if (caller.Sandbox)
        {
            await ServeSandboxAsync(context, caller, target, exposed!, shape, label, start);
            return;
        }
        var exchange = new Exchange(this, caller, target, path, start,
            shape is { MaskPii: true } or { Granted: not null } ? shape : null, config.MaxMaskedResponseBytes,
            reveal is { Reveal: true } ? (dataset!, reveal) : null) { ForwardedAt = lap };
        var error = await forwarder.SendAsync(context, target.Upstream, _client, ForwarderRequestConfig.Empty, exchange);
        if (error != ForwarderError.None && !exchange.Recorded && context.RequestAborted.IsCancellationRequested
            && exchange.Sent && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method)
            && !HttpMethods.IsOptions(context.Request.Method)
            && error is not (ForwarderError.RequestBodyClient or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyDestination))
        {
            // A write that reached the upstream whole may have been applied there, whoever hung up before its answer: it is
            // recorded as let through (its quota unit is spent), and says the answer was never seen. Refunded, a client that
            // hangs up on every write would write for free, with a record saying nothing happened.
            await recorder.AllowedAsync(context, Plane, target.Name, caller, DataPlaneRecords.ClientClosed, 0, start,
                "client closed after the request reached the upstream; it may have been applied there");
            Count(caller.AppId, label, DataPlaneRecords.ClientClosed, "allow", start);
            return;
        }
        if (error != ForwarderError.None && !exchange.Recorded && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away before the answer: nothing was served, so it is a refusal (its quota unit goes back),
            // recorded as the data plane records every request whose client closed early.
            await recorder.DeniedAsync(context, Plane, target.Name, caller.Deny(DataPlaneRecords.ClientClosed, "client-closed",
                "The client closed the connection before the answer."), start);
            Count(caller.AppId, label, DataPlaneRecords.ClientClosed, "deny", start);
            return;
        }
        if (error != ForwarderError.None && !exchange.Recorded)
        {
            // The upstream failed before answering: nothing was served, but the attempt is recorded.
            var failure = context.Features.Get<IForwarderErrorFeature>()?.Exception?.Message ?? error.ToString();
            logger.LogWarning("Gateway route {Route} failed: {Error}", target.Name, failure);
            await recorder.AllowedAsync(context, Plane, target.Name, caller, context.Response.StatusCode, 0, start, $"upstream error: {error}");
        }
        Count(caller.AppId, label, context.Response.StatusCode, "allow", start);
    }

    private static DatasetEntry? DatasetNamed(IEnumerable<DatasetEntry> datasets, string name)
    {
        foreach (var d in datasets)
            if (d.Name == name) return d;
        return null;
    }

    /// <summary>The fields of the dataset the app was granted (null: all of them), as its grant says.</summary>
    private static IReadOnlyList<string>? GrantedFields(AppCaller caller, string dataset)
    {
        foreach (var d in caller.App.Datasets)
            if (d.Name == dataset) return d.Fields;
        return null;
    }

    /// <summary>
    /// Whether the request asks to turn its connection into something else (HTTP/1.1 Upgrade, HTTP/2 extended CONNECT).
    /// YARP would forward such a request as an upgrade and then relay raw bytes both ways: a tunnel to the upstream whose
    /// traffic no path check, header rule, mask, quota or access event would see.
    /// </summary>
    private static bool IsUpgrade(HttpContext context) =>
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpUpgradeFeature>()?.IsUpgradableRequest == true
        || context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpExtendedConnectFeature>()?.IsExtendedConnect == true
        || context.Request.Headers.ContainsKey("Upgrade");

    /// <summary>The path after /gw/{route}, as the server decoded it (an encoded '/' stays encoded and is refused).</summary>
    private static string RemainderOf(PathString path, string route)
    {
        var full = path.Value ?? "";
        var prefix = "/gw/" + route;
        return full.Length > prefix.Length ? full[prefix.Length..] : "";
    }

    private async Task<Denial?> CheckBodyAsync(HttpContext context, AppCaller caller, ExposedPath exposed, int maxBytes, List<Violation> violations)
    {
        var request = context.Request;
        if (!StrictJson.HasBody(request))
            return exposed.BodySchema is null ? null : caller.Deny(StatusCodes.Status400BadRequest, "body-required", "This request needs a JSON body.");
        if (exposed.BodySchema is null)
            return caller.Deny(StatusCodes.Status400BadRequest, "body-not-allowed", $"{StrictJson.Bounded(request.Method, 16)} on this path takes no body.");

        // Read whole and bounded here (a chunked body has no length to check first), then forwarded from memory.
        var (bytes, problem) = await StrictJson.ReadAsync(request, maxBytes, "The request body", context.RequestAborted);
        if (problem is not null)
        {
            violations.AddRange(problem.Errors);
            return caller.Deny(problem.Status, problem.Errors.FirstOrDefault()?.Rule ?? "body", problem.Detail);
        }
        request.Body = new MemoryStream(bytes!, writable: false);
        request.ContentLength = bytes!.Length;
        request.Headers.Remove("Transfer-Encoding");

        var found = schemas.Validate(exposed.BodySchema, bytes);
        if (found.Count == 0) return null;
        violations.AddRange(found);
        var detail = string.Join("; ", found.Select(v => $"{(v.Field.Length == 0 ? "(body)" : v.Field)}: {v.Rule}"));
        return caller.Deny(StatusCodes.Status400BadRequest, "body-schema", $"The body does not match {exposed.BodySchema}: {detail}");
    }

    /// <summary>
    /// The simulated upstream: a read (GET, or HEAD for its headers alone) answers synthetic rows of the route's dataset
    /// (granted fields only, PII masked as for real), one object when the path names one item; a write is checked like a
    /// real one and answered, not forwarded. The record names the length of the body sent, as a real answer's does.
    /// </summary>
    private async Task ServeSandboxAsync(HttpContext context, AppCaller caller, GatewayRoute route, ExposedPath exposed, Shape? shape, string label, long start)
    {
        System.Text.Json.Nodes.JsonNode body;
        var rows = 0;
        IReadOnlyList<string> masked = [];
        var read = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method);
        if (read && shape?.Dataset is { } dataset)
        {
            var fields = shape.Granted ?? dataset.Fields;
            var limit = int.TryParse(context.Request.Query["limit"], out var l) ? Math.Clamp(l, 1, 100) : 20;
            masked = shape.MaskPii ? fields.Where(dataset.Pii.Contains).ToList() : [];
            var items = sandbox.RowsOf(dataset).Take(exposed.Pattern.EndsWith('}') ? 1 : limit).Select(r =>
            {
                var item = new System.Text.Json.Nodes.JsonObject();
                foreach (var field in fields)
                    item[field] = System.Text.Json.Nodes.JsonValue.Create(masked.Contains(field) ? masking.Apply(dataset.MaskingFor(field), r[field]) : r[field]);
                return (System.Text.Json.Nodes.JsonNode)item;
            }).ToArray();
            rows = items.Length;
            body = exposed.Pattern.EndsWith('}') ? items[0] : new System.Text.Json.Nodes.JsonArray(items);
        }
        else
        {
            body = context.Request.ContentLength > 0
                ? System.Text.Json.Nodes.JsonNode.Parse(await new StreamReader(context.Request.Body).ReadToEndAsync(context.RequestAborted))!
                : new System.Text.Json.Nodes.JsonObject();
            if (body is System.Text.Json.Nodes.JsonObject written) written["sandbox"] = true;
        }
        var status = read ? StatusCodes.Status200OK : StatusCodes.Status201Created;
        var bytes = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(body);
        // A HEAD's record names nothing sent: no rows, no bytes.
        var head = HttpMethods.IsHead(context.Request.Method);
        await recorder.SandboxServedAsync(context, label, caller, status, "simulated upstream", head ? 0 : rows, masked, head ? 0 : bytes.Length, start);
        context.Response.StatusCode = status;
        context.Response.Headers["X-Sandbox"] = "synthetic";
        context.Response.Headers.CacheControl = "private";
        context.Response.ContentType = "application/json; charset=utf-8";
        // A HEAD names no length: the synthetic body it would have had is not sent.
        if (head) return;
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
    }

    private async Task RefuseAsync(HttpContext context, string label, Denial denial, long start, IReadOnlyList<Violation>? violations = null)
    {
        try
        {
            await recorder.DeniedAsync(context, Plane, label, denial, start);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Could not record a denial; answering 503");
            await Problem.Unavailable("The ledger is unavailable, so the request is refused.").ToResult().ExecuteAsync(context);
            return;
        }
        Count(denial.AppId, label, denial.Status, "deny", start);
        await AccessRecorder.Refusal(denial, violations).ExecuteAsync(context);
    }

    private void Count(string appId, string label, int status, string decision, long start)
    {
        var tags = new TagList { { "app_id", appId }, { "route", label }, { "status", status }, { "decision", decision } };
        telemetry.GatewayRequests.Add(1, tags);
        telemetry.GatewayDuration.Record(AccessRecorder.Elapsed(start), tags);
    }

    /// <summary>
    /// One forwarded request: the path and identity headers on the way out; on the way back, the upstream's
    /// failures replaced by a problem, PII masked, and the access event committed before anything is sent.
    /// </summary>
    /// <summary>How a route's responses are shaped for this caller: PII masked unless it may read PII, ungranted fields withheld.</summary>
    private sealed record Shape(DatasetEntry Dataset, bool MaskPii, IReadOnlyList<string>? Granted);

    private sealed class Exchange(
        GatewayProxy gateway, AppCaller caller, GatewayRoute target, string path, long start, Shape? maskBy, int maxMaskedBytes,
        (DatasetEntry Dataset, RevealDecision Decision)? revealed) : HttpTransformer
    {
        private readonly string route = target.Name;

        public bool Recorded { get; private set; }

        /// <summary>Whether the request was handed to the upstream (its body may still have been cut short on the way).</summary>
        public bool Sent { get; private set; }

        /// <summary>When the request left for the upstream; the answer's arrival ends the forward stage.</summary>
        public long ForwardedAt { get; init; }

        /// <summary>
        /// The upstream request: its path, and headers from the allowlist and the gateway alone (the base transformer, which
        /// copies every header the client sent, is not called). Accept-Encoding is not on the allowlist: the gateway masks by
        /// reading the body, so it asks for it uncompressed.
        /// </summary>
        public override ValueTask TransformRequestAsync(HttpContext context, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken ct)
        {
            Sent = true;
            proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, path, context.Request.QueryString);
            UpstreamHeaders.Rewrite(proxyRequest, context, caller);
            return default;
        }

        public override async ValueTask<bool> TransformResponseAsync(HttpContext context, HttpResponseMessage? proxyResponse, CancellationToken ct)
        {
            if (proxyResponse is null) return await base.TransformResponseAsync(context, proxyResponse, ct);
            gateway.Telemetry.Lap("forward", ForwardedAt);
            var upstreamStatus = (int)proxyResponse.StatusCode;
            // The status line says the gateway's words: an upstream's reason phrase ("500 NpgsqlException at db01…") is not passed on.
            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseFeature>() is { } status) status.ReasonPhrase = null;
            try
            {
                // An upstream error, or an informational answer (101 Switching Protocols among them) to a request that asked
                // for none: the app gets a problem citing the status, never the upstream's own answer.
                if (upstreamStatus is >= 500 or < 200)
                {
                    // The upstream's own error page may carry stack traces and paths: the app gets a problem citing the status.
                    await RecordAsync(context, StatusCodes.Status502BadGateway, 0, $"upstream answered {upstreamStatus}", null);
                    await new Problem(StatusCodes.Status502BadGateway, "https://governance-ledger.dev/problems/upstream-error", "Upstream error",
                        $"The upstream of route '{route}' answered {upstreamStatus}.", [new Violation("", "upstream-status", upstreamStatus.ToString(System.Globalization.CultureInfo.InvariantCulture))])
                        .ToResult().ExecuteAsync(context);
                    return false;
                }
                if (HasBody(context, proxyResponse))
                    return await ServeWholeAsync(context, proxyResponse, upstreamStatus, ct);

                // The headers first: one the server would refuse fails the request before its record says it was served.
                UpstreamHeaders.CopyResponse(proxyResponse, context.Response, target, shaped: maskBy is not null);
                // A HEAD on a shaped route does not tell the length of the unshaped body.
                if (maskBy is not null) context.Response.ContentLength = null;
                await RecordAsync(context, upstreamStatus, 0, "served", null);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Nothing is served without its access event (fail closed).
                gateway.Logger.LogError(e, "Could not record an access; answering 503 instead of the upstream response");
                Recorded = true;
                // Nothing of the upstream's answer goes with the refusal, whatever was copied before the failure; the request's
                // id (the 503's own record names it) stays.
                if (!context.Response.HasStarted)
                {
                    var requestId = context.Response.Headers["X-Request-Id"];
                    context.Response.Clear();
                    if (requestId.Count > 0) context.Response.Headers["X-Request-Id"] = requestId;
                }
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return false;
            }
            // An answer with no body to send: nothing of the upstream's is copied after the record (false: YARP copies no body).
            return false;
        }

        /// <summary>An upstream's trailers are headers too, after the body: none is passed on.</summary>
        public override ValueTask TransformResponseTrailersAsync(HttpContext context, HttpResponseMessage proxyResponse, CancellationToken ct) => default;

        /// <summary>
        /// An answer with a body is read whole (at most Gateway:MaxMaskedResponseBytes) before its record, then sent with its
        /// length: the record names the bytes the app gets, and a body the upstream cuts short or makes too long is refused
        /// (502, recorded), never half sent after a record that says it was served. A route's dataset shapes it on the way.
        /// </summary>
        private async ValueTask<bool> ServeWholeAsync(HttpContext context, HttpResponseMessage proxyResponse, int upstreamStatus, CancellationToken ct)
        {
            var started = Stopwatch.GetTimestamp();
            var content = proxyResponse.Content;
            PooledBytes? body;
            try
            {
                body = (content.Headers.ContentLength ?? 0) <= maxMaskedBytes ? await ReadBoundedAsync(content, maxMaskedBytes, ct) : null;
            }
            catch (Exception e) when (e is HttpRequestException or IOException && !ct.IsCancellationRequested)
            {
                gateway.Logger.LogWarning("The upstream of route {Route} ended its answer early: {Reason}", route, e.Message);
                return await RefuseAnswerAsync(context, "upstream-cut-short", "upstream answer cut short",
                    $"The upstream of route '{route}' ended its answer before it was complete.");
            }
            if (body is null)
                return await RefuseAnswerAsync(context, "response-too-large", "upstream answer too large",
                    $"The upstream of route '{route}' answered more than {maxMaskedBytes} bytes, the most the gateway passes (Gateway:MaxMaskedResponseBytes).");
            using (body)
            {
                // A response that cannot be read cannot be masked: it is not passed on unmasked. An empty one has nothing to mask.
                if (maskBy is not null && body.WrittenCount > 0
                    && !(StrictJson.IsJsonMediaType(content.Headers.ContentType?.ToString()) && content.Headers.ContentEncoding.Count == 0))
                    return await RefuseAnswerAsync(context, "unmaskable-response", "upstream response cannot be masked",
                        $"Route '{route}' carries PII and its upstream's answer is not JSON the gateway can mask.");
                if (maskBy is null || body.WrittenCount == 0)
                {
                    UpstreamHeaders.CopyResponse(proxyResponse, context.Response, target, shaped: maskBy is not null);
                    context.Response.Headers.ContentLength = body.WrittenCount;
                    await RecordAsync(context, upstreamStatus, body.WrittenCount, "served", null);
                    await context.Response.Body.WriteAsync(body.WrittenMemory, ct);
                    return false;
                }
                var shaped = new ArrayBufferWriter<byte>(body.WrittenCount + 256);
                IReadOnlyList<string> masked;
                try
                {
                    masked = ResponseMasking.Mask(body.WrittenSpan, shaped, maskBy.Dataset, gateway.Masking, maskBy.MaskPii, maskBy.Granted);
                }
                catch (JsonException)
                {
                    return await RefuseAnswerAsync(context, "unmaskable-response", "upstream response cannot be masked",
                        $"Route '{route}' carries PII and its upstream's answer is not JSON the gateway can mask.");
                }
                // Shaping can make an answer longer (a nested value becomes its hash): the bound holds for what is sent too.
                if (shaped.WrittenCount > maxMaskedBytes)
                    return await RefuseAnswerAsync(context, "response-too-large", "shaped answer too large",
                        $"The answer of route '{route}' is longer than {maxMaskedBytes} bytes once masked, the most the gateway passes (Gateway:MaxMaskedResponseBytes).");
                gateway.Telemetry.Lap("mask", started);
                UpstreamHeaders.CopyResponse(proxyResponse, context.Response, target, shaped: true);
                context.Response.Headers.ContentLength = shaped.WrittenCount;
                context.Response.ContentType = "application/json; charset=utf-8";
                await RecordAsync(context, upstreamStatus, shaped.WrittenCount, "served", masked.Count > 0 ? masked : null);
                await context.Response.Body.WriteAsync(shaped.WrittenMemory, ct);
                return false;
            }
        }

        /// <summary>An upstream answer the gateway does not pass on: recorded, then a 502 problem naming the rule.</summary>
        private async ValueTask<bool> RefuseAnswerAsync(HttpContext context, string rule, string reason, string detail)
        {
            await RecordAsync(context, StatusCodes.Status502BadGateway, 0, reason, null);
            await new Problem(StatusCodes.Status502BadGateway, $"https://governance-ledger.dev/problems/{rule}", "Upstream response refused", detail,
                [new Violation("", rule, detail)]).ToResult().ExecuteAsync(context);
            return false;
        }

        /// <summary>
        /// Whether the answer may carry a body, which is then read (an empty one costs nothing): not a HEAD's (its length
        /// describes a body not sent), not a 204, 205 or 304. A length of 0 is not trusted to mean no body: beside a chunked
        /// encoding it means nothing, and the body that follows is read, shaped and counted like any other.
        /// </summary>
        private static bool HasBody(HttpContext context, HttpResponseMessage response) =>
            !HttpMethods.IsHead(context.Request.Method) && !UpstreamHeaders.IsBodyless(response.StatusCode);

        /// <summary>The whole body in a pooled buffer, or null when it is longer than <paramref name="max"/>.</summary>
        private static async Task<PooledBytes?> ReadBoundedAsync(HttpContent content, int max, CancellationToken ct)
        {
            await using var stream = await content.ReadAsStreamAsync(ct);
            var buffer = new PooledBytes((int)Math.Min(max + 1L, content.Headers.ContentLength is { } length ? length + 1 : 16 * 1024));
            try
            {
                int read;
                while ((read = await stream.ReadAsync(buffer.FreeMemory(), ct)) > 0)
                {
                    buffer.Advance(read);
                    if (buffer.WrittenCount > max)
                    {
                        buffer.Dispose();
                        return null;
                    }
                }
                return buffer;
            }
            catch
            {
                buffer.Dispose();
                throw;
            }
        }

        /// <summary>Bytes read into an array rented from the shared pool, returned to it on dispose.</summary>
        private sealed class PooledBytes(int capacity) : IDisposable
        {
            private byte[]? _array = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 256));
            public int WrittenCount { get; private set; }
            public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, WrittenCount);
            public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, WrittenCount);

            public Memory<byte> FreeMemory()
            {
                if (WrittenCount == _array!.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(_array.Length * 2);
                    _array.AsSpan(0, WrittenCount).CopyTo(larger);
                    Release(_array, WrittenCount);
                    _array = larger;
                }
                return _array.AsMemory(WrittenCount);
            }

            public void Advance(int count) => WrittenCount += count;

            public void Dispose()
            {
                if (_array is { } array) Release(array, WrittenCount);
                _array = null;
            }

            /// <summary>Back to the pool wiped: the bytes are an unmasked upstream answer, and the pool serves the whole process.</summary>
            private static void Release(byte[] array, int used)
            {
                array.AsSpan(0, used).Clear();
                ArrayPool<byte>.Shared.Return(array);
            }
        }

        private async Task RecordAsync(HttpContext context, int status, long bytesOut, string reason, IReadOnlyList<string>? masked)
        {
            var access = gateway.Recorder.AllowedAsync(context, Plane, route, caller, status, bytesOut, start, reason, masked);
            // An answer whose body goes out unmasked on a route with PII is a reveal, whatever its status (an error body may echo
            // the record it complains about), recorded with what the reveal policies were given.
            if (revealed is { } r && bytesOut > 0 && status < 500)
                await Task.WhenAll(access, gateway.Recorder.RecordAsync(context, new PiiRevealed(AccessRecorder.RequestId(context), caller.AppId, caller.EndUser,
                    r.Dataset.Name, r.Dataset.Pii, caller.Mfa, r.Decision.Risk.Score, r.Decision.Risk.Denials24h, r.Decision.Risk.RequestsToday,
                    r.Decision.Risk.UsualRequestsPerDay, r.Decision.Risk.NewRegion, r.Decision.Risk.Region, r.Decision.Reason, r.Decision.PolicyIds,
                    gateway.Clock.GetUtcNow()), caller.AppId));
            else
                await access;
            Recorded = true;
        }
    }
}
