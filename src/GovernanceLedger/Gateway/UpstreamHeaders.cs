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
    /// Response headers a route may not add to <see cref="PassedResponse"/>: the gateway's own, those that act for the whole
    /// origin or its cross-origin policy, and the connection's own (hop by hop).
    /// </summary>
    public static bool IsReservedResponseHeader(string name) =>
        ReservedResponse.Contains(name) || name.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase) || name.StartsWith("X-PII-", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("Public-Key-Pins", StringComparison.OrdinalIgnoreCase);

    private static readonly System.Collections.Frozen.FrozenSet<string> ReservedResponse = System.Collections.Frozen.FrozenSet.ToFrozenSet(
        ["X-Request-Id", "Set-Cookie", "Set-Cookie2", "Strict-Transport-Security", "Alt-Svc", "Clear-Site-Data", "WWW-Authenticate",
         "Content-Security-Policy", "Refresh", "Server", "X-Powered-By", "Connection", "Keep-Alive", "Transfer-Encoding", "Trailer", "TE", "Upgrade",
         "Date", "Origin-Agent-Cluster", "Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy", "Timing-Allow-Origin", "Service-Worker-Allowed",
         "X-End-User", "X-End-User-Encoding", "X-App-Id"],
        StringComparer.OrdinalIgnoreCase);

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

    /// <summary>
    /// Copies the upstream answer's headers that <paramref name="route"/> passes (<see cref="PassedResponse"/> and its own
    /// list) onto the response, after the gateway's own: a header the gateway has set is never replaced or added to. A
    /// value that is not plain visible ASCII drops its header (the server would fail the answer after its record). A
    /// Location in the upstream's space is rewritten to the same place under /gw/{route}.
    /// </summary>
    public static void CopyResponse(HttpResponseMessage upstream, HttpResponse response, GatewayRoute route)
    {
        var chunked = upstream.Headers.NonValidated.Contains("Transfer-Encoding");
        var bodyless = upstream.StatusCode is System.Net.HttpStatusCode.NoContent or System.Net.HttpStatusCode.NotModified;
        Copy(upstream.Headers.NonValidated);
        if (upstream.Content is { } content) Copy(content.Headers.NonValidated);

        void Copy(System.Net.Http.Headers.HttpHeadersNonValidated headers)
        {
            foreach (var (name, values) in headers)
            {
                if (!route.PassesResponseHeader(name) || response.Headers.ContainsKey(name)) continue;
                // A length beside a chunked body would describe neither (RFC 9112 6.3); a bodyless answer has none.
                if (string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase) && (chunked || bodyless)) continue;
                var passed = new string[values.Count];
                var i = 0;
                foreach (var value in values)
                {
                    if (!PassesAsIs(value)) goto dropped;
                    passed[i++] = string.Equals(name, "Location", StringComparison.OrdinalIgnoreCase) ? LocationUnder(route, value) : value;
                }
                response.Headers[name] = passed;
                dropped: ;
            }
        }
    }

    /// <summary>
    /// Where an upstream's Location points, as the app reaches it: a path on the upstream (root-relative, or absolute on
    /// the upstream's own origin) becomes the same path under /gw/{route}; a relative reference or another origin is kept.
    /// </summary>
    public static string LocationUnder(GatewayRoute route, string location)
    {
        if (!Uri.TryCreate(route.Upstream, UriKind.Absolute, out var upstream)) return location;
        string pathAndQuery;
        if (location.StartsWith('/') && !location.StartsWith("//", StringComparison.Ordinal)) pathAndQuery = location;
        else if (Uri.TryCreate(location, UriKind.Absolute, out var absolute)
                 && Uri.Compare(absolute, upstream, UriComponents.SchemeAndServer, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) == 0)
            pathAndQuery = absolute.PathAndQuery + absolute.Fragment;
        else return location;
        var basePath = upstream.AbsolutePath.TrimEnd('/');
        if (basePath.Length > 0)
        {
            if (!pathAndQuery.StartsWith(basePath, StringComparison.Ordinal) || (pathAndQuery.Length > basePath.Length && pathAndQuery[basePath.Length] is not ('/' or '?' or '#')))
                return location;
            pathAndQuery = pathAndQuery[basePath.Length..];
        }
        return $"/gw/{route.Name}{(pathAndQuery.StartsWith('/') ? "" : "/")}{pathAndQuery}";
    }
}
