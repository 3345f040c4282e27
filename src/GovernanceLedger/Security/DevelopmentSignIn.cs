using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security;

/// <summary>
/// The development issuer's sign-in for browsers: OAuth 2.0 authorization code with PKCE (S256 only), for the console's
/// client alone and its own callback. GET /dev/oidc/authorize shows a form to pick who signs in (e-mail, roles, region,
/// groups, a second factor); POST issues a one-time code valid for a minute; the console redeems it in process (never
/// over the network) for an ID token and a people token. Development only, like POST /dev/tokens.
/// </summary>
public sealed class DevelopmentSignIn(DevelopmentIssuer issuer, IConfiguration configuration, TimeProvider clock)
{
    public const string AuthorizePath = "/dev/oidc/authorize";
    private static readonly TimeSpan CodeLifetime = TimeSpan.FromMinutes(1);
    private static readonly JsonWebTokenHandler Handler = new();
    private readonly ConcurrentDictionary<string, Grant> _codes = new();

    private sealed record Grant(DevTokenRequest Person, string ClientId, string RedirectUri, string Challenge, string? Nonce, DateTimeOffset Expires);

    public static void Map(WebApplication app)
    {
        app.MapGet(AuthorizePath, (HttpContext http, DevelopmentSignIn signIn) => signIn.Form(http)).AllowAnonymous().ExcludeFromDescription();
        app.MapPost(AuthorizePath, (HttpContext http, DevelopmentSignIn signIn) => signIn.AuthorizeAsync(http)).AllowAnonymous().DisableAntiforgery()
            .ExcludeFromDescription();
    }

    private string ConsoleClientId => configuration["People:ConsoleClientId"] ?? "governance-ledger-console";

    /// <summary>The request is one this issuer answers: the console's client, a callback on this very origin, a code with an S256 challenge.</summary>
    private string? Refusal(HttpRequest request, Dictionary<string, string> p)
    {
        if (p.GetValueOrDefault("client_id") != ConsoleClientId) return "unknown client_id";
        if (p.GetValueOrDefault("response_type") != "code") return "response_type must be code";
        if (p.GetValueOrDefault("code_challenge_method") != "S256" || p.GetValueOrDefault("code_challenge") is not { Length: 43 }) return "a PKCE S256 code_challenge is required";
        // The callback is compared as a string with the one address it may be (RFC 6749 3.1.2: no fragment, exact match).
        if (p.GetValueOrDefault("redirect_uri") != $"{request.Scheme}://{request.Host.Value}/console/signin-oidc")
            return "redirect_uri must be exactly this origin's /console/signin-oidc";
        if (p.GetValueOrDefault("state") is not { Length: > 0 and <= 2048 }) return "state is required";
        return null;
    }

    private static Dictionary<string, string> Parameters(IEnumerable<KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>> source) =>
        source.Where(kv => kv.Value.Count == 1).ToDictionary(kv => kv.Key, kv => kv.Value.ToString(), StringComparer.Ordinal);

    private IResult Form(HttpContext http)
    {
        var p = Parameters(http.Request.Query);
        if (Refusal(http.Request, p) is { } why) return Results.Problem(why, statusCode: 400, title: "Invalid authorization request");
        var hidden = string.Concat(new[] { "client_id", "response_type", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method" }
            .Where(p.ContainsKey).Select(k => $"<input type=\"hidden\" name=\"{k}\" value=\"{WebUtility.HtmlEncode(p[k])}\">"));
        var roles = string.Concat(Role.All.Select(r =>
            $"<label><input type=\"checkbox\" name=\"role\" value=\"{r}\"> {r}</label>"));
        var html = $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Sign in (development issuer)</title>
            <style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}label{display:block;margin:.4rem 0}
            input[type=text],input[type=email]{width:100%;padding:.4rem;font:inherit}button{font:inherit;padding:.5rem 1rem;margin-top:1rem}
            fieldset{border:1px solid #bbb;margin:1rem 0}</style></head>
            <body><main>
            <h1>Sign in</h1>
            <p>This is the ledger's <strong>development</strong> issuer: choose who you are. Production uses your identity provider.</p>
            <form method="post" action="{{AuthorizePath}}">
            {{hidden}}
            <label for="email">E-mail</label><input id="email" name="email" type="email" required autocomplete="username">
            <fieldset><legend>Roles</legend>{{roles}}</fieldset>
            <label for="region">Region (optional)</label><input id="region" name="region" type="text">
            <label for="groups">Groups (optional, comma separated)</label><input id="groups" name="groups" type="text">
            <label><input type="checkbox" name="mfa" value="true"> Signed in with a second factor (MFA)</label>
            <button type="submit">Sign in</button>
            </form></main></body></html>
            """;
        http.Response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        return Results.Content(html, "text/html; charset=utf-8");
    }

    private async Task<IResult> AuthorizeAsync(HttpContext http)
    {
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var p = Parameters(form);
        if (Refusal(http.Request, p) is { } why) return Results.Problem(why, statusCode: 400, title: "Invalid authorization request");
        var email = p.GetValueOrDefault("email")?.Trim().ToLowerInvariant();
        if (email is not { Length: > 3 and <= 200 } || Identity.Canonical(email) is null)
            return Results.Problem("email must be a plain e-mail address", statusCode: 400, title: "Invalid sign-in");
        var roles = form["role"].Where(r => r is not null && Role.All.Contains(r)).Select(r => r!).Distinct().ToArray();
        var groups = (p.GetValueOrDefault("groups") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(g => g.Length <= 128).ToArray();
        var region = p.GetValueOrDefault("region")?.Trim() is { Length: > 0 and <= 16 } r ? r : null;
        var person = new DevTokenRequest(email, roles, email, region, null, null, groups, p.GetValueOrDefault("mfa") == "true" ? ["pwd", "mfa"] : ["pwd"]);
        var code = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        _codes[code] = new Grant(person, p["client_id"], p["redirect_uri"], p["code_challenge"], p.GetValueOrDefault("nonce"), clock.GetUtcNow() + CodeLifetime);
        foreach (var expired in _codes.Where(c => c.Value.Expires < clock.GetUtcNow()).Select(c => c.Key).ToList()) _codes.TryRemove(expired, out _);
        var location = $"{p["redirect_uri"]}?code={Uri.EscapeDataString(code)}" + (p.GetValueOrDefault("state") is { } state ? $"&state={Uri.EscapeDataString(state)}" : "");
        return Results.Redirect(location);
    }

    /// <summary>Redeems a code once: the same client and callback, and the verifier whose S256 hash is the challenge. Null otherwise.</summary>
    public (string IdToken, string AccessToken, int ExpiresIn)? Redeem(string? code, string? verifier, string? redirectUri, string? clientId)
    {
        if (code is null || !_codes.TryRemove(code, out var grant) || grant.Expires < clock.GetUtcNow()) return null;
        if (grant.ClientId != clientId || grant.RedirectUri != redirectUri || verifier is null) return null;
        var hash = Convert.ToBase64String(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(hash), Encoding.ASCII.GetBytes(grant.Challenge))) return null;

        var (access, expiresIn) = issuer.Mint(grant.Person, configuration["People:Audience"] ?? "governance-ledger");
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object>
        {
            ["sub"] = grant.Person.Sub, ["email"] = grant.Person.Email ?? grant.Person.Sub, [PeopleAuthentication.RoleClaim] = grant.Person.Roles ?? [],
            ["amr"] = grant.Person.Amr ?? [], ["name"] = grant.Person.Sub
        };
        if (grant.Nonce is { } nonce) claims["nonce"] = nonce;
        var id = Handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = DevelopmentIssuer.Issuer, Audience = grant.ClientId, Claims = claims, IssuedAt = now, NotBefore = now,
            Expires = now.AddSeconds(expiresIn), SigningCredentials = new SigningCredentials(DevelopmentIssuer.SigningKey, SecurityAlgorithms.RsaSha256)
        });
        return (id, access, expiresIn);
    }
}
