using System.Collections.Concurrent;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security;

/// <summary>
/// App tokens arrive again and again for their fifteen minutes; an RSA signature check on every
/// request was the gateway's largest cost. A token that validated once is remembered until it
/// expires, by its exact text, so nothing about it can change. Failures are never cached, and
/// lifetime is re-checked on every hit. App status is checked per request elsewhere, so a paused
/// app is refused whatever this cache holds.
/// </summary>
public sealed class CachingTokenHandler(TimeProvider clock) : JsonWebTokenHandler
{
    private const int Capacity = 50_000;
    private readonly ConcurrentDictionary<string, TokenValidationResult> _valid = new(StringComparer.Ordinal);

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        if (_valid.TryGetValue(token, out var cached))
        {
            var now = clock.GetUtcNow().UtcDateTime;
            if (cached.SecurityToken.ValidTo + validationParameters.ClockSkew > now) return cached;
            _valid.TryRemove(token, out _);
        }

        var result = await base.ValidateTokenAsync(token, validationParameters);
        if (result.IsValid)
        {
            // Bounded: when full, start over rather than grow without limit.
            if (_valid.Count >= Capacity) _valid.Clear();
            _valid[token] = result;
        }
        return result;
    }
}
