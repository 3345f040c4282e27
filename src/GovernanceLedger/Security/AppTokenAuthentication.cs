using System.Collections.Concurrent;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security;

/// <summary>What a valid app token says, read once when it is first checked.</summary>
public sealed record AppToken(
    string Subject, string? TokenId, string? EndUser, string? EndUserRegion, IReadOnlySet<string> Scopes, bool Sandbox, bool Mfa, DateTime ValidTo)
{
    /// <summary>The scopes in order, space-separated: a key for what the token may do.</summary>
    public string ScopeKey { get; } = string.Join(' ', Scopes.Order(StringComparer.Ordinal));
}

/// <summary>An app token checked: the token when it is valid, else why not (no token at all, expired, or not valid).</summary>
public readonly record struct AppTokenCheck(AppToken? Token, AppTokenFailure Failure)
{
    public bool Succeeded => Token is not null;
}

public enum AppTokenFailure { None, Missing, Expired, Invalid }

public static class AppTokenAuthentication
{
    /// <summary>Requests that carry app tokens and are access events: the gateway, the data proxy and topic records.</summary>
    public static bool IsDataPlane(PathString path) =>
        path.StartsWithSegments("/gw") || path.StartsWithSegments("/data") || IsTopicRecords(path.Value);

    /// <summary>/topics/{topic}/records, as routing matches it: any case, with or without a trailing slash.</summary>
    private static bool IsTopicRecords(string? path)
    {
        if (path is null || !path.StartsWith("/topics/", StringComparison.OrdinalIgnoreCase)) return false;
        var rest = path.AsSpan("/topics/".Length).TrimEnd('/');
        var slash = rest.IndexOf('/');
        return slash > 0 && rest[(slash + 1)..].Equals("records", StringComparison.OrdinalIgnoreCase);
    }

    public static WebApplicationBuilder AddAppTokenAuthentication(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<AppTokens>();
        return builder;
    }
}

/// <summary>
/// The data plane's check of app tokens (Authorization: Bearer): signed by one of the ledger's published keys, RS256
/// only, the ledger's issuer and audience, within its lifetime on the ledger's clock. The keys come from memory, not a
/// database read.
/// <para>
/// App tokens arrive again and again for their fifteen minutes, and an RSA signature check on every request was the
/// gateway's largest cost. A token that validated once is remembered by its exact text until it expires, with what it
/// says already read, so nothing about it can change; its lifetime is checked again on every use, failures are never
/// remembered, and app status is checked per request elsewhere (a paused app is refused whatever this holds). The
/// check runs here rather than as an authentication scheme: a scheme's handler, its events and a claims principal per
/// request cost more than the check itself once the signature is remembered.
/// </para>
/// </summary>
public sealed class AppTokens(SigningKeys keys, TokenSettings settings, TimeProvider clock)
{
    private const int Capacity = 50_000;
    private static readonly TimeSpan Skew = TimeSpan.FromSeconds(15);
    private readonly ConcurrentDictionary<string, AppToken> _valid = new(StringComparer.Ordinal);
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

    private TokenValidationParameters Parameters => field ??= new TokenValidationParameters
    {
        ValidIssuer = settings.Issuer,
        ValidAudience = settings.Audience,
        ValidateIssuer = true,
        ValidateAudience = true,
        ValidateLifetime = true,
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        ValidateIssuerSigningKey = true,
        ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
        ClockSkew = Skew,
        NameClaimType = "sub",
        IssuerSigningKeyResolver = (_, _, kid, _) => keys.VerificationKeys(kid).Select(k => (SecurityKey)k.Key),
        // The ledger's clock, not the machine's: token lifetimes and app expiry are judged on one time line.
        LifetimeValidator = (notBefore, expires, _, parameters) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            return (notBefore is null || notBefore.Value - parameters.ClockSkew <= now)
                && expires is not null && now < expires.Value + parameters.ClockSkew;
        }
    };

    /// <summary>The same checks but the lifetime: what tells a token that has expired from one that was never valid.</summary>
    private TokenValidationParameters IgnoringLifetime => field ??= WithoutLifetime(Parameters);

    private static TokenValidationParameters WithoutLifetime(TokenValidationParameters parameters)
    {
        var copy = parameters.Clone();
        copy.LifetimeValidator = null;
        copy.ValidateLifetime = false;
        return copy;
    }

    /// <summary>
    /// Whether a token refused for its lifetime is one the ledger issued and that has run out: only then does the caller hear
    /// "expired". A token with a bad signature, issuer or audience is "not valid" whatever its dates say.
    /// </summary>
    private async Task<bool> ExpiredAsync(string token, Exception? failure)
    {
        if (failure is not (SecurityTokenExpiredException or SecurityTokenInvalidLifetimeException)) return false;
        var unbounded = await _handler.ValidateTokenAsync(token, IgnoringLifetime);
        return unbounded.IsValid && unbounded.SecurityToken.ValidTo + Skew <= clock.GetUtcNow().UtcDateTime;
    }

    /// <summary>Checks the request's bearer token, as a bearer scheme reads the header: "Bearer " in any case, then the token trimmed.</summary>
    public ValueTask<AppTokenCheck> CheckAsync(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return ValueTask.FromResult(new AppTokenCheck(null, AppTokenFailure.Missing));
        var token = header["Bearer ".Length..].Trim();
        return token.Length == 0 ? ValueTask.FromResult(new AppTokenCheck(null, AppTokenFailure.Missing)) : CheckAsync(token);
    }

    public ValueTask<AppTokenCheck> CheckAsync(string token)
    {
        if (_valid.TryGetValue(token, out var known))
        {
            if (known.ValidTo + Skew > clock.GetUtcNow().UtcDateTime) return ValueTask.FromResult(new AppTokenCheck(known, AppTokenFailure.None));
            _valid.TryRemove(token, out _);
            return ValueTask.FromResult(new AppTokenCheck(null, AppTokenFailure.Expired));
        }
        return ValidateAsync(token);
    }

    private async ValueTask<AppTokenCheck> ValidateAsync(string token)
    {
        var result = await _handler.ValidateTokenAsync(token, Parameters);
        if (!result.IsValid || result.ClaimsIdentity is not { } identity)
            return new AppTokenCheck(null, await ExpiredAsync(token, result.Exception) ? AppTokenFailure.Expired : AppTokenFailure.Invalid);
        var read = new AppToken(
            identity.FindFirst("sub")?.Value ?? "", identity.FindFirst("jti")?.Value, identity.FindFirst("user")?.Value,
            identity.FindFirst("user_region")?.Value, identity.FindAll("scopes").Select(c => c.Value).ToHashSet(StringComparer.Ordinal),
            identity.FindFirst("sandbox")?.Value is "true" or "True", identity.FindFirst("user_mfa")?.Value is "true" or "True",
            result.SecurityToken.ValidTo);
        // Bounded: when full, start over rather than grow without limit.
        if (_valid.Count >= Capacity) _valid.Clear();
        _valid[token] = read;
        return new AppTokenCheck(read, AppTokenFailure.None);
    }
}
