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

    /// <summary>
    /// Response headers an upstream does not pass on: those that describe its internals, and those that would act for the
    /// whole of the ledger's origin (cookies, transport security, alternative services, clearing site data, a browser's
    /// sign-in prompt), which the console shares.
    /// </summary>
    private static readonly string[] UpstreamInternals =
        ["Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-SourceFiles", "Set-Cookie", "Set-Cookie2",
         "Strict-Transport-Security", "Alt-Svc", "Clear-Site-Data", "WWW-Authenticate", "Public-Key-Pins", "Public-Key-Pins-Report-Only"];

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

    public static void StripInternals(HttpResponse response)
    {
        foreach (var name in UpstreamInternals) response.Headers.Remove(name);
    }
}
