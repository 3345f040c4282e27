using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Security;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Apps.IssuingTokens;

/// <summary>Signs the JWT that matches an AppTokenIssued event; the event, not the token, is what the ledger keeps.</summary>
public sealed class AppTokenWriter(TokenSettings settings)
{
    private static readonly JsonWebTokenHandler Handler = new() { SetDefaultTimesOnTokenCreation = false };

    /// <summary>The token; <paramref name="mfa"/>: the person it was issued to (the end user, or the owner) signed in with more than one factor.</summary>
    public string Write(LedgerKey key, App app, AppTokenIssued issued, EndUser? endUser, bool mfa = false)
    {
        var claims = new Dictionary<string, object>
        {
            ["sub"] = $"app:{app.Id}",
            ["app_id"] = app.Id,
            ["owner"] = app.Owner,
            ["scopes"] = issued.Scopes.ToArray(),
            ["jti"] = issued.TokenId
        };
        // A sandbox token reads synthetic data only; the data plane refuses it everywhere else.
        if (issued.Sandbox) claims["sandbox"] = true;
        // Copied from the person's own sign-in, never asked for: a PII reveal checks it.
        if (mfa) claims["user_mfa"] = true;
        if (endUser is not null)
        {
            claims["user"] = endUser.Subject;
            if (endUser.Email is { } email) claims["user_email"] = email;
            if (endUser.Region is { } region) claims["user_region"] = region;
        }

        return Handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = settings.Issuer,
            Audience = settings.Audience,
            Claims = claims,
            IssuedAt = issued.At.UtcDateTime,
            NotBefore = issued.At.UtcDateTime,
            Expires = issued.ExpiresAt.UtcDateTime,
            SigningCredentials = new SigningCredentials(key.Key, SecurityAlgorithms.RsaSha256)
        });
    }
}
