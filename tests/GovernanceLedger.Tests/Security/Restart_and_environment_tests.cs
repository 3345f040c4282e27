using GovernanceLedger.Tests;
using Microsoft.IdentityModel.JsonWebTokens;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Security;

[Collection(LedgerCollection.Name)]
public sealed class Restart_and_environment_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task Signing_keys_survive_a_restart_so_tokens_issued_before_it_still_verify()
    {
        var appId = await ledger.ActiveApp("restart");
        var token = new JsonWebToken((await ledger.Post($"/apps/{appId}/tokens", null, await ledger.PersonToken(Owner, "app-owner"))).Str("access_token"));

        await using var second = await LedgerFixture.StartHostAsync(ledger.ConnectionString, "Development", ledger.Clock, ledger.DataPlaneSettings());
        using var client = second.Server.CreateClient();
        var jwks = await client.GetStringAsync("/.well-known/jwks.json");

        jwks.ShouldContain($"\"kid\":\"{token.Kid}\"");

        // The restarted host (a second one in this process) registers apps like the first.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/apps")
        {
            Content = new StringContent(ExampleManifest(NewAppId("after")).ToJsonString(), System.Text.Encoding.UTF8, "application/json")
        };
        request.Headers.Authorization = new("Bearer", await ledger.PersonToken(Owner, "app-owner"));
        using var registered = await client.SendAsync(request);
        ((int)registered.StatusCode).ShouldBe(201, await registered.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Outside_Development_the_development_issuer_does_not_exist()
    {
        var scratch = Path.Combine(Path.GetTempPath(), $"govledger-prod-{Guid.NewGuid():N}");
        await using var production = await LedgerFixture.StartHostAsync(ledger.ConnectionString, "Production", ledger.Clock,
            new Dictionary<string, string?>
            {
                ["People:Authority"] = "https://login.example.invalid/",
                // Production has no defaults for where keys and witnesses live, nor for the key-encryption secret.
                ["Keys:Directory"] = Path.Combine(scratch, "keys"),
                ["Keys:Secret"] = new string('s', 48),
                ["Audit:WitnessDirectory"] = Path.Combine(scratch, "witness")
            });
        using var client = production.Server.CreateClient();

        using var devTokens = await client.PostAsync("/dev/tokens", new StringContent("""{"sub":"x","roles":["platform-admin"]}""", System.Text.Encoding.UTF8, "application/json"));
        devTokens.StatusCode.ShouldBe(System.Net.HttpStatusCode.NotFound);
        using var apps = await client.GetAsync("/apps");
        apps.StatusCode.ShouldBe(System.Net.HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Outside_Development_a_people_authority_is_required()
    {
        var error = await Should.ThrowAsync<Exception>(() => LedgerFixture.StartHostAsync(ledger.ConnectionString, "Production", ledger.Clock));
        error.ToString().ShouldContain("People:Authority");
    }

    [Theory]
    [InlineData("-00:00:01")]
    [InlineData("01:00:00")]
    public async Task A_chain_pace_that_would_let_the_chain_trail_far_behind_or_is_negative_stops_the_host_at_start(string pace)
    {
        var settings = new Dictionary<string, string?>(ledger.DataPlaneSettings()) { ["Audit:ChainPace"] = pace };
        var error = await Should.ThrowAsync<Exception>(() => LedgerFixture.StartHostAsync(ledger.ConnectionString, "Development", ledger.Clock, settings));
        error.ToString().ShouldContain("Audit:ChainPace");
    }

    [Theory]
    [InlineData("-00:00:00.001")]
    [InlineData("00:00:01")]
    public async Task A_commit_pace_that_would_hold_every_served_request_long_or_is_negative_stops_the_host_at_start(string pace)
    {
        var settings = new Dictionary<string, string?>(ledger.DataPlaneSettings()) { ["DataPlane:CommitPace"] = pace };
        var error = await Should.ThrowAsync<Exception>(() => LedgerFixture.StartHostAsync(ledger.ConnectionString, "Development", ledger.Clock, settings));
        error.ToString().ShouldContain("DataPlane:CommitPace");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("5001")]
    public async Task A_console_export_page_size_out_of_range_stops_the_host_at_start(string size)
    {
        var settings = new Dictionary<string, string?>(ledger.DataPlaneSettings()) { ["Console:ExportPageSize"] = size };
        var error = await Should.ThrowAsync<Exception>(() => LedgerFixture.StartHostAsync(ledger.ConnectionString, "Development", ledger.Clock, settings));
        error.ToString().ShouldContain("Console:ExportPageSize");
    }
}
