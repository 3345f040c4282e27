using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using GovernanceLedger.Security;

namespace GovernanceLedger.Tests.Security;

[Collection(LedgerCollection.Name)]
public sealed class App_token_cache_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task A_valid_app_token_is_checked_once_and_then_served_from_the_cache_while_an_invalid_one_never_is()
    {
        var options = ledger.Host.Services.GetRequiredService<IOptionsMonitor<JwtBearerOptions>>().Get(AppTokenAuthentication.Scheme);
        var handler = options.TokenHandlers.ShouldHaveSingleItem().ShouldBeOfType<CachingTokenHandler>();
        var appId = await ledger.DataApp("cache");
        var token = await ledger.AppToken(appId);

        var first = await handler.ValidateTokenAsync(token, options.TokenValidationParameters);
        var second = await handler.ValidateTokenAsync(token, options.TokenValidationParameters);
        first.IsValid.ShouldBeTrue(first.Exception?.Message);
        second.ShouldBeSameAs(first);

        var tampered = token[..^4] + (token[^4..] == "AAAA" ? "BBBB" : "AAAA");
        (await handler.ValidateTokenAsync(tampered, options.TokenValidationParameters)).IsValid.ShouldBeFalse();
        (await handler.ValidateTokenAsync(tampered, options.TokenValidationParameters)).IsValid.ShouldBeFalse();
    }
}
