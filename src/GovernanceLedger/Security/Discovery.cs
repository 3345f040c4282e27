using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security.KeyCustody;
using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.Tokens;
using Wolverine.Http;

namespace GovernanceLedger.Security;

/// <summary>The ledger is the issuer of app tokens: it publishes its verification keys and metadata.</summary>
public static class Discovery
{
    [WolverineGet("/.well-known/jwks.json", OperationId = "jwks"), AllowAnonymous]
    [Tags("Credentials")]
    public static async Task<IResult> Jwks(SigningKeys keys, CancellationToken ct) =>
        // App-token keys and checkpoint keys side by side; each names its purpose, and the data plane trusts only app-token keys.
        Results.Json(new { keys = (await keys.PublishedAsync(ct)).Select(SigningKeys.Jwk) });

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
        ["claims_supported"] = new[] { "sub", "iss", "aud", "exp", "iat", "nbf", "jti", "scopes", "app_id", "owner", "user", "user_email", "user_region", "user_mfa" }
    };

    /// <summary>Rotates the app-token key, or with ?purpose=checkpoints the checkpoint key; every instance follows within seconds.</summary>
    [WolverinePost("/keys/rotate", OperationId = "rotateSigningKey"), Authorize(Policy = PeopleAuthentication.Policies.Admin)]
    [Tags("Credentials")]
    public static async Task<IResult> Rotate(string? purpose, SigningKeys keys, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        purpose ??= KeyPurposes.AppTokens;
        if (!KeyPurposes.All.Contains(purpose))
            return Problem.Invalid("purpose", "enum", $"purpose must be one of: {string.Join(", ", KeyPurposes.All)}.").ToResult();
        var key = await keys.RotateAsync(purpose, Caller.From(user).Actor, ct);
        return Results.Ok(new { active_kid = key.KeyId, purpose });
    }
}
