using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.Tokens;
using Wolverine.Http;

namespace GovernanceLedger.Security;

/// <summary>The ledger is the issuer of app tokens: it publishes its verification keys and metadata.</summary>
public static class Discovery
{
    [WolverineGet("/.well-known/jwks.json", OperationId = "jwks"), AllowAnonymous]
    [Tags("Credentials")]
    public static async Task<IResult> Jwks(SigningKeys keys, CancellationToken ct)
    {
        var published = await keys.PublishedAsync(ct);
        var jwks = published.Select(k =>
        {
            var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(k.Key.Rsa.ExportParameters(false)) { KeyId = k.KeyId });
            return new Dictionary<string, string> { ["kty"] = jwk.Kty, ["kid"] = k.KeyId, ["use"] = "sig", ["alg"] = SecurityAlgorithms.RsaSha256, ["n"] = jwk.N, ["e"] = jwk.E };
        });
        return Results.Json(new { keys = jwks });
    }

    [WolverineGet("/.well-known/openid-configuration", OperationId = "openidConfiguration"), AllowAnonymous]
    [Tags("Credentials")]
    public static object OpenIdConfiguration(TokenSettings settings) => new Dictionary<string, object>
    {
        ["issuer"] = settings.Issuer,
        ["jwks_uri"] = $"{settings.Issuer.TrimEnd('/')}/.well-known/jwks.json",
        ["token_endpoint"] = $"{settings.Issuer.TrimEnd('/')}/apps/{{app_id}}/tokens",
        ["grant_types_supported"] = new[] { "urn:ietf:params:oauth:grant-type:token-exchange" },
        ["subject_types_supported"] = new[] { "public" },
        ["id_token_signing_alg_values_supported"] = new[] { SecurityAlgorithms.RsaSha256 },
        ["token_endpoint_auth_methods_supported"] = new[] { "bearer" },
        ["claims_supported"] = new[] { "sub", "iss", "aud", "exp", "iat", "nbf", "jti", "scopes", "app_id", "owner", "user", "user_email", "user_region" }
    };

    [WolverinePost("/keys/rotate", OperationId = "rotateSigningKey"), Authorize(Policy = PeopleAuthentication.Policies.Admin)]
    [Tags("Credentials")]
    public static async Task<object> Rotate(SigningKeys keys, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        var key = await keys.RotateAsync(Caller.From(user).Actor, ct);
        return new { active_kid = key.KeyId };
    }
}
