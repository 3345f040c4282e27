using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using GovernanceLedger.Security;

namespace GovernanceLedger.Tests.Security;

[Collection(LedgerCollection.Name)]
public sealed class App_token_cache_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task A_valid_app_token_is_checked_once_and_then_served_from_the_cache_while_an_invalid_one_never_is()
    {
        var tokens = ledger.Host.Services.GetRequiredService<AppTokens>();
        var appId = await ledger.DataApp("cache");
        var token = await ledger.AppToken(appId);

        var first = await tokens.CheckAsync(token);
        var second = await tokens.CheckAsync(token);
        first.Failure.ShouldBe(AppTokenFailure.None);
        first.Token!.Subject.ShouldBe($"app:{appId}");
        second.Token.ShouldBeSameAs(first.Token);

        var tampered = token[..^4] + (token[^4..] == "AAAA" ? "BBBB" : "AAAA");
        (await tokens.CheckAsync(tampered)).Failure.ShouldBe(AppTokenFailure.Invalid);
        (await tokens.CheckAsync(tampered)).Failure.ShouldBe(AppTokenFailure.Invalid);
        (await tokens.CheckAsync("not.a.token")).Failure.ShouldBe(AppTokenFailure.Invalid);
    }

    [Fact]
    public async Task Only_a_token_the_ledger_issued_is_called_expired_once_it_runs_out_remembered_or_not()
    {
        var keys = ledger.Host.Services.GetRequiredService<SigningKeys>();
        var settings = ledger.Host.Services.GetRequiredService<TokenSettings>();
        var appId = await ledger.DataApp("expiry");
        var token = await ledger.AppToken(appId);
        var clock = new FakeTimeProvider(ledger.Clock.GetUtcNow());
        var tokens = new AppTokens(keys, settings, clock);
        (await tokens.CheckAsync(token)).Failure.ShouldBe(AppTokenFailure.None);

        clock.Advance(settings.MaxLifetime + TimeSpan.FromMinutes(5));
        (await tokens.CheckAsync(token)).Failure.ShouldBe(AppTokenFailure.Expired);
        (await new AppTokens(keys, settings, clock).CheckAsync(token)).Failure.ShouldBe(AppTokenFailure.Expired);

        // Signed by a key of the caller's own, with the ledger's issuer and audience and dates long past: not the ledger's.
        var forged = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = settings.Issuer, Audience = settings.Audience, NotBefore = ledger.Clock.GetUtcNow().UtcDateTime.AddMinutes(-5),
            IssuedAt = ledger.Clock.GetUtcNow().UtcDateTime.AddMinutes(-5), Expires = ledger.Clock.GetUtcNow().UtcDateTime.AddMinutes(1),
            Claims = new Dictionary<string, object> { ["sub"] = $"app:{appId}" },
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)) { KeyId = "mine" }, SecurityAlgorithms.RsaSha256)
        });
        (await tokens.CheckAsync(forged)).Failure.ShouldBe(AppTokenFailure.Invalid);
    }
}
