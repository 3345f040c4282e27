using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Gateway;

/// <summary>
/// What an upstream hears about a request is the gateway's word alone. Request headers pass only from
/// a short allowlist (content negotiation and conditional requests); every identity, forwarding and
/// tracing header a client sends is dropped, whatever its spelling, and the gateway sets its own (the end user's name
/// percent-encoded when it is not plain ASCII, see <see cref="EndUserHeader"/>).
/// Upstream responses lose the headers that describe the upstream's internals or set cookies.
/// </summary>
public static class UpstreamHeaders
{
    private static readonly string[] Passed =
        ["Accept", "Accept-Language", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "User-Agent"];

    /// <summary>The body's headers, passed with a body only (the gateway has read it whole and set its length).</summary>
    private static readonly string[] PassedContent = ["Content-Type", "Content-Length"];

    private static readonly string[] UpstreamInternals =
        ["Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-SourceFiles", "Set-Cookie"];

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
    /// fails the request before it leaves. A name of visible ASCII and spaces, without '%', ',' or '"', goes as it is
    /// (every plain e-mail address); any other is sent as its UTF-8 percent-encoded (RFC 3986), and
    /// X-End-User-Encoding: percent says so, so an upstream never has to guess which it got. A comma would make one name
    /// read as a list of names by an upstream that splits header values ("rep@example.com, ceo@example.com"), a quote as
    /// a quoted string.
    /// </summary>
    public static (string Value, bool Encoded) EndUserHeader(string user)
    {
        var plain = user.Length > 0 && user[0] != ' ' && user[^1] != ' ';
        foreach (var c in user)
            if (c is < ' ' or > '~' or '%' or ',' or '"') { plain = false; break; }
        return plain ? (user, false) : (Uri.EscapeDataString(user), true);
    }

    /// <summary>Adds a passed header; a value with a control character (RFC 9110 allows none but tab) is not passed at all.</summary>
    private static void Add(System.Net.Http.Headers.HttpHeaders headers, string name, Microsoft.Extensions.Primitives.StringValues value)
    {
        foreach (var one in value)
            if (one is null || one.AsSpan().IndexOfAnyInRange('\0', '\u0008') >= 0 || one.AsSpan().IndexOfAnyInRange('\u000A', '\u001F') >= 0 || one.Contains('\u007F'))
                return;
        if (value.Count == 1) headers.TryAddWithoutValidation(name, value.ToString());
        else headers.TryAddWithoutValidation(name, (IEnumerable<string?>)value);
    }

    public static void StripInternals(HttpResponse response)
    {
        foreach (var name in UpstreamInternals) response.Headers.Remove(name);
    }
}
