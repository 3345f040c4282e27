using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Gateway;

/// <summary>
/// What an upstream hears about a request is the gateway's word alone. Request headers pass only from
/// a short allowlist (content negotiation and conditional requests); every identity, forwarding and
/// tracing header a client sends is dropped, whatever its spelling, and the gateway sets its own (the end user's name
/// percent-encoded when it is not plain ASCII, see <see cref="EndUserHeader"/>).
/// Upstream responses keep only the headers of a short allowlist (<see cref="PassedResponse"/>, and what a route adds).
/// </summary>
public static class UpstreamHeaders
{
    private static readonly string[] Passed =
        ["Accept", "Accept-Language", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "User-Agent"];

    /// <summary>The body's headers, passed with a body only (the gateway has read it whole and set its length).</summary>
    private static readonly string[] PassedContent = ["Content-Type", "Content-Length"];

    /// <summary>
    /// The response headers an upstream's answer keeps: its representation (type, length, language, encoding, ranges),
    /// its caching validators and where it points (Location, rewritten into the route). Anything else it sends is
    /// dropped, so nothing an upstream adds can speak for the ledger's origin (cookies, transport security, CORS,
    /// clearing site data, a sign-in prompt), describe the upstream's internals, or change the gateway's own headers
    /// (X-Request-Id names the access event). A route lists more in Gateway:Routes:N:ResponseHeaders.
    /// </summary>
    public static readonly System.Collections.Frozen.FrozenSet<string> PassedResponse = System.Collections.Frozen.FrozenSet.ToFrozenSet(
        ["Content-Type", "Content-Length", "Content-Language", "Content-Disposition", "Content-Encoding", "Content-Range", "Accept-Ranges",
         "Cache-Control", "Expires", "ETag", "Last-Modified", "Vary", "Age", "Pragma", "Location", "Retry-After", "Allow"],
        StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Whether a route may add a response header to <see cref="PassedResponse"/>: an application's own "X-" header (a
    /// pagination count, a rate-limit remainder), never one of the gateway's own or one naming the upstream's software. A
    /// standard header that acts beyond its response (cookies, transport security, reporting endpoints, CORS, client
    /// hints, permissions) cannot be listed at all, whatever its name: only "X-" names can.
    /// </summary>
    public static bool MayBeListedByRoute(string name) =>
        name.Length is > 2 and <= 128 && name.StartsWith("X-", StringComparison.OrdinalIgnoreCase) && !name.AsSpan().ContainsAnyExcept(TokenCharacters)
        && !ReservedResponse.Contains(name) && !name.StartsWith("X-PII-", StringComparison.OrdinalIgnoreCase)
        && !name.StartsWith("X-End-User", StringComparison.OrdinalIgnoreCase) && !name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase);

    private static readonly System.Collections.Frozen.FrozenSet<string> ReservedResponse = System.Collections.Frozen.FrozenSet.ToFrozenSet(
        ["X-Request-Id", "X-App-Id", "X-Sandbox", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-SourceFiles"],
        StringComparer.OrdinalIgnoreCase);

    /// <summary>The characters of an HTTP header name (a token, RFC 9110 5.6.2).</summary>
    private static readonly System.Buffers.SearchValues<char> TokenCharacters =
        System.Buffers.SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>
    /// The upstream request's headers: those on the allowlist, looked up by name in the client's request (any spelling of
    /// a name is the same header), then the gateway's own. Nothing else the client sent is copied, so nothing has to be
    /// found and removed afterwards.
    /// </summary>
    public static void Rewrite(HttpRequestMessage proxyRequest, HttpContext context, AppCaller caller)
    {
        var incoming = context.Request.Headers;
        foreach (var name in Passed)
            if (incoming.TryGetValue(name, out var value)) Add(proxyRequest.Headers, name, value);
        if (proxyRequest.Content is { } content)
            foreach (var name in PassedContent)
                if (incoming.TryGetValue(name, out var value)) Add(content.Headers, name, value);

        proxyRequest.Headers.TryAddWithoutValidation("X-App-Id", caller.AppId);
        if (caller.EndUser is { } user)
        {
            var (value, encoded) = EndUserHeader(user);
            proxyRequest.Headers.TryAddWithoutValidation("X-End-User", value);
            if (encoded) proxyRequest.Headers.TryAddWithoutValidation("X-End-User-Encoding", "percent");
        }
        // The request id is the access event's id, so an upstream log line leads straight to the ledger.
        proxyRequest.Headers.TryAddWithoutValidation("X-Request-Id", AccessRecorder.RequestId(context));
        if (context.Connection.RemoteIpAddress is { } address)
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-For", address.ToString());
        proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Proto", context.Request.Scheme);
    }

    /// <summary>
    /// The end user as an X-End-User value. Header values are ASCII: a name such as "josé@example.com" sent as it is
    /// fails the request before it leaves. A name of letters, digits and "@._+-" goes as it is (every plain e-mail
    /// address); any other is sent as its UTF-8 percent-encoded (RFC 3986), and X-End-User-Encoding: percent says so, so
    /// an upstream never has to guess which it got. Whatever else a name holds could be read otherwise by some upstream:
    /// a comma as a list of names ("rep@example.com, ceo@example.com"), a quote or backslash as a quoted string, ';' and
    /// '=' as parameters, a space as the end of a token.
    /// </summary>
    public static (string Value, bool Encoded) EndUserHeader(string user)
    {
        var plain = user.Length > 0 && !user.AsSpan().ContainsAnyExcept(PlainName);
        return plain ? (user, false) : (Uri.EscapeDataString(user), true);
    }

    /// <summary>
    /// Adds a passed header whose every value <see cref="PassesAsIs"/>; a header with any other value is not passed at all
    /// (one the client could make fail the upstream request, or that an upstream could read otherwise than the gateway).
    /// </summary>
    private static void Add(System.Net.Http.Headers.HttpHeaders headers, string name, Microsoft.Extensions.Primitives.StringValues value)
    {
        foreach (var one in value)
            if (!PassesAsIs(one)) return;
        if (value.Count == 1) headers.TryAddWithoutValidation(name, value.ToString());
        else headers.TryAddWithoutValidation(name, (IEnumerable<string?>)value);
    }

    /// <summary>What a name sent as it is may hold: letters, digits and "@._+-", the characters of a plain e-mail address.</summary>
    private static readonly System.Buffers.SearchValues<char> PlainName =
        System.Buffers.SearchValues.Create("@._+-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>Whether a client's header value is passed on: visible ASCII, spaces and tabs only (no control character, nothing beyond ASCII).</summary>
    public static bool PassesAsIs(string? value) =>
        value is not null && !value.AsSpan().ContainsAnyExcept(PlainHeaderText);

    private static readonly System.Buffers.SearchValues<char> PlainHeaderText =
        System.Buffers.SearchValues.Create("\t !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    /// <summary>What a shaped answer keeps of <see cref="PassedResponse"/>: headers of dates, numbers, methods and directives.</summary>
    private static readonly System.Collections.Frozen.FrozenSet<string> PassedShaped = System.Collections.Frozen.FrozenSet.ToFrozenSet(
        ["Cache-Control", "Expires", "Last-Modified", "Vary", "Age", "Pragma", "Location", "Retry-After", "Allow", "Accept-Ranges"],
        StringComparer.OrdinalIgnoreCase);

    /// <summary>Headers a response carries once: an upstream that sends one twice (two types, two places) has it dropped.</summary>
    private static readonly System.Collections.Frozen.FrozenSet<string> SingleValued = System.Collections.Frozen.FrozenSet.ToFrozenSet(
        ["Content-Type", "Content-Disposition", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified", "Expires", "Age", "Location", "Retry-After"],
        StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Copies the upstream answer's headers that <paramref name="route"/> passes (<see cref="PassedResponse"/> and its own
    /// list) onto the response, after the gateway's own: a header the gateway has set is never replaced or added to.
    /// <list type="bullet">
    /// <item>A value that is not plain visible ASCII drops its header, and so does a second value of a header sent once.</item>
    /// <item>Content-Length is the one the answer's body was read by (a length the client could be told and then not get
    /// would fail the answer after its record); none beside a chunked body or on a bodyless answer.</item>
    /// <item>Location is rewritten into the route, or dropped (<see cref="LocationUnder"/>).</item>
    /// <item>Cache-Control always says private: every gateway request carries a token, and a shared cache that stored an
    /// answer would serve it again with no access event (the upstream's public and s-maxage are removed).</item>
    /// <item>A <paramref name="shaped"/> answer (masked, or fields withheld) keeps only headers whose values cannot carry the
    /// data it hides (<see cref="PassedShaped"/>; a route's own headers only as plain numbers, Location without its query):
    /// an ETag, a file name or a query can hold an address the body no longer shows.</item>
    /// </list>
    /// </summary>
    public static void CopyResponse(HttpResponseMessage upstream, HttpResponse response, GatewayRoute route, bool shaped = false)
    {
        Copy(upstream.Headers.NonValidated);
        if (upstream.Content is { } content) Copy(content.Headers.NonValidated);
        var bodyless = IsBodyless(upstream.StatusCode);
        if (!bodyless && upstream.Headers.TransferEncodingChunked != true && upstream.Content?.Headers.ContentLength is { } length && length >= 0)
            response.ContentLength = length;
        if (!response.Headers.ContainsKey("Cache-Control")) response.Headers.CacheControl = "private";

        void Copy(System.Net.Http.Headers.HttpHeadersNonValidated headers)
        {
            foreach (var (name, values) in headers)
            {
                if (string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase) || !route.PassesResponseHeader(name)
                    || response.Headers.ContainsKey(name) || values.Count == 0 || (values.Count > 1 && SingleValued.Contains(name)))
                    continue;
                var routesOwn = !PassedResponse.Contains(name);
                if (shaped && !routesOwn && !PassedShaped.Contains(name)) continue;
                var passed = new string?[values.Count];
                var i = 0;
                foreach (var value in values)
                {
                    if (!PassesAsIs(value) || (shaped && routesOwn && !long.TryParse(value, System.Globalization.NumberStyles.None, null, out _))) goto dropped;
                    passed[i++] = name.Equals("Location", StringComparison.OrdinalIgnoreCase) ? ShapedLocation(LocationUnder(route, upstream.RequestMessage?.RequestUri, value))
                        : name.Equals("Cache-Control", StringComparison.OrdinalIgnoreCase) ? PrivateCacheControl(value)
                        : value;
                    if (passed[i - 1] is null) goto dropped;
                }
                response.Headers[name] = passed;
                dropped: ;
            }
        }

        // A shaped answer's Location keeps its path, not its query (which could name what the body hides).
        string? ShapedLocation(string? location) => shaped && location is not null ? location.Split('?', 2)[0] : location;
    }

    /// <summary>Statuses whose answers carry no body and no length (204, 205, 304): the server refuses a length on them.</summary>
    public static bool IsBodyless(System.Net.HttpStatusCode status) =>
        status is System.Net.HttpStatusCode.NoContent or System.Net.HttpStatusCode.ResetContent or System.Net.HttpStatusCode.NotModified;

    /// <summary>The upstream's cache directives without those that let a shared cache store the answer, and private added.</summary>
    private static string PrivateCacheControl(string value)
    {
        var kept = new List<string>();
        foreach (var directive in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var name = directive.Split('=', 2)[0].Trim();
            if (name.Equals("public", StringComparison.OrdinalIgnoreCase) || name.Equals("s-maxage", StringComparison.OrdinalIgnoreCase)
                || name.Equals("private", StringComparison.OrdinalIgnoreCase) || name.Equals("proxy-revalidate", StringComparison.OrdinalIgnoreCase))
                continue;
            kept.Add(directive);
        }
        kept.Insert(0, "private");
        return string.Join(", ", kept);
    }

    /// <summary>
    /// Where an upstream's Location points, as the app reaches it, or null (the header is dropped). The value is resolved
    /// against the upstream request's address as a client would resolve it (relative references, "..", backslashes,
    /// scheme-relative "//host"). Only a place on the upstream itself (same scheme, host and port, under its base path) is
    /// kept, as the same path under /gw/{route}, and only when that path is one the gateway would route as it is (plain
    /// segments: no "..", no percent-encoding); the query is kept. Anything else, another host or another spelling of the
    /// upstream's own address among them, is dropped: the gateway sends an app nowhere but through itself, and never tells
    /// it where the upstream lives.
    /// </summary>
    public static string? LocationUnder(GatewayRoute route, Uri? requested, string location)
    {
        if (!Uri.TryCreate(route.Upstream, UriKind.Absolute, out var upstream)) return null;
        requested ??= upstream;
        if (location.Length == 0 || !Uri.TryCreate(requested, location.Trim(), out var resolved) || !resolved.IsAbsoluteUri) return null;
        if (!string.Equals(resolved.GetLeftPart(UriPartial.Authority), upstream.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase)
            || resolved.UserInfo.Length > 0)
            return null;
        var path = resolved.AbsolutePath;
        var basePath = upstream.AbsolutePath.TrimEnd('/');
        if (basePath.Length > 0)
        {
            if (!path.StartsWith(basePath, StringComparison.Ordinal) || (path.Length > basePath.Length && path[basePath.Length] != '/')) return null;
            path = path[basePath.Length..];
        }
        if (path.Length == 0 || path == "/") return $"/gw/{route.Name}{resolved.Query}";
        return RouteMatch.IsCanonical(path) ? $"/gw/{route.Name}{path}{resolved.Query}" : null;
    }
}
