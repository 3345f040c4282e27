using Microsoft.Extensions.DependencyInjection;
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
}
