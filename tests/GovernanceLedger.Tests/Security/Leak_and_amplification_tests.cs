using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Npgsql;

namespace GovernanceLedger.Tests.Security;

/// <summary>What an outsider can learn or inflate without a token: metrics, error bodies, ledger rows, health.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Leak_and_amplification_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task Metrics_need_the_scrape_token_and_carry_no_personal_data_or_attacker_chosen_labels()
    {
        var anonymous = await ledger.Get("/metrics", null);
        anonymous.Status.ShouldBe(401);
        anonymous.Text.ShouldNotContain("ledger_");
        (await ledger.Get("/metrics", "wrong-token")).Status.ShouldBe(401);

        var appId = await ledger.DataApp("metrics");
        (await ledger.Get("/gw/crm/contacts?limit=1", await ledger.AppToken(appId))).Status.ShouldBe(200);
        for (var i = 0; i < 5; i++)
        {
            await ledger.Get($"/gw/random-{Guid.NewGuid():N}/x", null);
            await ledger.Post($"/data/random-{Guid.NewGuid():N}/query", "{}", null);
        }

        // The exporter caches a scrape briefly: wait for one taken after the requests above.
        ApiResponse scraped = null!;
        await LedgerFixture.EventuallyAsync(async () =>
        {
            scraped = await ledger.Get("/metrics", LedgerFixture.ScrapeToken);
            return scraped.Status == 200 && scraped.Text.Contains("api_gateway_requests_total");
        }, TimeSpan.FromSeconds(10));
        scraped.Text.ShouldNotContain("@example.com");
        scraped.Text.ShouldNotContain("random-");
    }

    [Fact]
    public async Task A_huge_token_writes_a_bounded_denial_and_refusals_are_one_plain_sentence()
    {
        var key = new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)) { KeyId = new string('k', 20_000) };
        var huge = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "anyone", Audience = "governance-ledger-apps", Expires = DateTime.UtcNow.AddMinutes(5),
            Claims = new Dictionary<string, object> { ["sub"] = "app:" + new string('a', 5_000) },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256)
        });
        huge.Length.ShouldBeGreaterThan(20_000);

        var refused = await ledger.Get("/gw/crm/contacts", huge);
        refused.Status.ShouldBe(401);
        refused.Text.ShouldNotContain("IDX");
        refused.Text.ShouldNotContain("kkkk");
        refused.Node("detail")!.GetValue<string>().ShouldBe("The app token is not valid.");

        var denial = (await ledger.AccessEvents(Denial.Unauthenticated)).OfType<AccessRecorded>().Single(e => e.RequestId == refused.RequestId);
        System.Text.Json.JsonSerializer.Serialize(denial).Length.ShouldBeLessThan(2_000);
        denial.ClaimedApp!.Length.ShouldBeLessThanOrEqualTo(AccessFieldSizes.ClaimedApp);

        var person = await ledger.PersonToken("late@example.com", "app-owner");
        var people = await ledger.Get("/apps", person[..^4] + "AAAA");
        people.Status.ShouldBe(401);
        people.ContentType.ShouldBe("application/problem+json");
        people.Text.ShouldNotContain("IDX");
        people.Node("detail")!.GetValue<string>().ShouldNotContain("\n");
        var forbidden = await ledger.Get("/audit/denials", await ledger.PersonToken("nobody@example.com"));
        forbidden.Status.ShouldBe(403);
        forbidden.ContentType.ShouldBe("application/problem+json");
    }

    [Fact]
    public async Task Health_answers_503_naming_the_ledger_when_the_database_is_unreachable()
    {
        (await ledger.Get("/health", null)).Status.ShouldBe(200);
        // The same host, but its direct ledger reads pointed at a port where nothing listens.
        var dead = new NpgsqlConnectionStringBuilder(ledger.ConnectionString) { Port = 1, Timeout = 1 }.ConnectionString;
        await using var host = await LedgerFixture.StartHostAsync(ledger.ConnectionString, "Development", ledger.Clock, ledger.DataPlaneSettings(),
            services => services.AddSingleton(new GovernanceLedger.Infrastructure.LedgerDatabase(
                new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Ledger"] = dead }).Build())));
        using var client = host.Server.CreateClient();
        using var response = await client.GetAsync("/health");
        ((int)response.StatusCode).ShouldBe(503);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        body["ledger"]!.GetValue<string>().ShouldBe("unreachable");
        await host.StopAsync();
    }
}
