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
    private static readonly HashSet<string> Passed = new(StringComparer.OrdinalIgnoreCase)
    {
        "Accept", "Accept-Language", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "User-Agent"
    };

    private static readonly HashSet<string> PassedContent = new(StringComparer.OrdinalIgnoreCase) { "Content-Type", "Content-Length" };

    private static readonly string[] UpstreamInternals =
        ["Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-SourceFiles", "Set-Cookie"];

    public static void Rewrite(HttpRequestMessage proxyRequest, HttpContext context, AppCaller caller)
    {
        // Names only, read without validation: enumerating the headers themselves parses every value (the app's token among
        // them) into its typed form just to throw it away.
        foreach (var name in Dropped(proxyRequest.Headers.NonValidated, Passed)) proxyRequest.Headers.Remove(name);
        if (proxyRequest.Content is { } content)
            foreach (var name in Dropped(content.Headers.NonValidated, PassedContent)) content.Headers.Remove(name);

        proxyRequest.Headers.Host = null;
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
    /// fails the request before it leaves. A name of visible ASCII and spaces, without '%', goes as it is (every e-mail
    /// address of ASCII); any other is sent as its UTF-8 percent-encoded (RFC 3986), and X-End-User-Encoding: percent
    /// says so, so an upstream never has to guess which it got.
    /// </summary>
    public static (string Value, bool Encoded) EndUserHeader(string user)
    {
        var plain = user.Length > 0 && user[0] != ' ' && user[^1] != ' ';
        foreach (var c in user)
            if (c is < ' ' or > '~' or '%') { plain = false; break; }
        return plain ? (user, false) : (Uri.EscapeDataString(user), true);
    }

    private static List<string> Dropped(System.Net.Http.Headers.HttpHeadersNonValidated headers, HashSet<string> passed)
    {
        var dropped = new List<string>();
        foreach (var header in headers)
            if (!passed.Contains(header.Key)) dropped.Add(header.Key);
        return dropped;
    }

    public static void StripInternals(HttpResponse response)
    {
        foreach (var name in UpstreamInternals) response.Headers.Remove(name);
    }
}
