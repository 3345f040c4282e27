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

    public static WebApplicationBuilder AddAppTokenAuthentication(this WebApplicationBuilder builder)
    {
        builder.Services.AddAuthentication().AddJwtBearer(Scheme, _ => { });
        builder.Services.AddOptions<JwtBearerOptions>(Scheme).Configure<SigningKeys, TokenSettings>((options, keys, settings) =>
        {
            options.MapInboundClaims = false;
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
                IssuerSigningKeyResolver = (_, _, kid, _) => keys.VerificationKeys(kid).Select(k => (SecurityKey)k.Key)
            };
        });
        return builder;
    }
}
