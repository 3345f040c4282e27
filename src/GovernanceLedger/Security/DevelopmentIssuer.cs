using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security;

/// <summary>
/// Mints people tokens for local development. It is registered only in the Development
/// environment and its key lives in memory: tokens die with the process, by design.
/// It uses wall-clock time, like the bearer middleware that will check its tokens.
/// </summary>
public sealed class DevelopmentIssuer
{
    public const string Issuer = "urn:governance-ledger:development-issuer";
    public static readonly RsaSecurityKey SigningKey = new(RSA.Create(2048)) { KeyId = "dev-people-1" };

    private static readonly JsonWebTokenHandler Handler = new();

    public (string Token, int ExpiresIn) Mint(DevTokenRequest request, string audience)
    {
        var lifetime = TimeSpan.FromMinutes(Math.Clamp(request.ExpiresInMinutes ?? 60, 1, 24 * 60));
        var now = TimeProvider.System.GetUtcNow().UtcDateTime;
        var claims = new Dictionary<string, object>
        {
            ["sub"] = request.Sub,
            ["email"] = request.Email ?? request.Sub,
            [PeopleAuthentication.RoleClaim] = request.Roles ?? [],
            ["jti"] = Guid.NewGuid().ToString("N")
        };
        if (request.ActorType is { } actorType) claims["actor_type"] = actorType;
        if (request.Region is { } region) claims["region"] = region;
        if (request.Groups is { Length: > 0 } groups) claims["groups"] = groups;
        // How the person signed in (RFC 8176): "mfa" among them is what PII reveals ask for.
        if (request.Amr is { Length: > 0 } amr) claims["amr"] = amr;

        var token = Handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = audience,
            Claims = claims,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            SigningCredentials = new SigningCredentials(SigningKey, SecurityAlgorithms.RsaSha256)
        });
        return (token, (int)lifetime.TotalSeconds);
    }
}

public sealed record DevTokenRequest(
    string Sub, string[]? Roles, string? Email, string? Region, string? ActorType, int? ExpiresInMinutes, string[]? Groups = null, string[]? Amr = null);
