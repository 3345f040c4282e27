using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace GovernanceLedger.Security;

/// <summary>
/// Validates a people token that arrives in a request body (token exchange) with exactly the
/// rules the bearer middleware applies to the Authorization header.
/// </summary>
public sealed class PeopleTokenValidator(IOptionsMonitor<JwtBearerOptions> options)
{
    private static readonly JsonWebTokenHandler Handler = new() { MapInboundClaims = false };

    public async Task<(ClaimsPrincipal? Person, string? Error)> ValidateAsync(string token, CancellationToken ct)
    {
        var bearer = options.Get(PeopleAuthentication.Scheme);
        var parameters = bearer.TokenValidationParameters.Clone();
        if (bearer.ConfigurationManager is { } manager)
        {
            var configuration = await manager.GetConfigurationAsync(ct);
            parameters.ValidIssuer ??= configuration.Issuer;
            parameters.IssuerSigningKeys = configuration.SigningKeys;
        }
        var result = await Handler.ValidateTokenAsync(token, parameters);
        return result.IsValid
            ? (new ClaimsPrincipal(result.ClaimsIdentity), null)
            : (null, result.Exception?.Message ?? "the token is not valid");
    }
}
