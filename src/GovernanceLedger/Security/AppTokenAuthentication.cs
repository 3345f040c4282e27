using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security;

/// <summary>
/// The data plane's check of app tokens: signed by one of the ledger's published keys, RS256 only,
/// our issuer and audience, within its lifetime. The keys come from memory, not a database read.
/// </summary>
public static class AppTokenAuthentication
{
    public const string Scheme = "app";

    /// <summary>Gateway and data-proxy paths authenticate apps themselves; people authentication stays out of their way.</summary>
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
        builder.Services.AddAuthentication().AddJwtBearer(Scheme, _ => { });
        builder.Services.AddSingleton<CachingTokenHandler>();
        builder.Services.AddOptions<JwtBearerOptions>(Scheme).Configure<SigningKeys, TokenSettings, TimeProvider, CachingTokenHandler>((options, keys, settings, clock, tokenHandler) =>
        {
            options.MapInboundClaims = false;
            // Nothing reads an app token back from the authentication result: storing it is work on every data-plane request.
            options.SaveToken = false;
            options.TokenHandlers.Clear();
            options.TokenHandlers.Add(tokenHandler);
            options.TokenValidationParameters = new TokenValidationParameters
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
                ClockSkew = TimeSpan.FromSeconds(15),
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
        });
        return builder;
    }
}
