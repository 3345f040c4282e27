using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;
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
        // A process of its own: in-process hosts of other fixtures share meter names and would blur what one host counts.
        var appId = await ledger.DataApp("metrics");
        var port = ChildHost.FreePort();
        using var host = ChildHost.Start(ledger, port, settings: new Dictionary<string, string> { ["Metrics__ScrapeToken"] = LedgerFixture.ScrapeToken });
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await ChildHost.WaitHealthy(client, host);
            async Task<(int Status, string Text)> Get(string path, string? bearer)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                if (bearer is not null) request.Headers.Authorization = new("Bearer", bearer);
                using var response = await client.SendAsync(request);
                return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
            }

            var anonymous = await Get("/metrics", null);
            anonymous.Status.ShouldBe(401);
            anonymous.Text.ShouldNotContain("ledger_");
            (await Get("/metrics", "wrong-token")).Status.ShouldBe(401);

            var token = await ChildHost.AppTokenAsync(client, appId, "metrics.user@example.com");

            // The host's app directory learns of the app on its first poll; until then the gateway refuses it.
            var last = (Status: 0, Text: "");
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((last = await Get("/gw/crm/contacts?limit=1", token)).Status != 200)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"The gateway never served the app: {last.Status} {last.Text}");
                await Task.Delay(250);
            }
            for (var i = 0; i < 5; i++)
            {
                await Get($"/gw/random-{Guid.NewGuid():N}/x", null);
                using var query = await client.PostAsync($"/data/random-{Guid.NewGuid():N}/query", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
            }

            // What the server refuses before the application (no app, no route, so no access event) is still counted, by kind.
            (await RawExchange(port, "GET /gw/crm/contacts HTTP/1.1 random-line\r\nHost: x\r\n\r\n")).ShouldStartWith("HTTP/1.1 400");
            (await RawExchange(port, $"GET /gw/crm/contacts HTTP/1.1\r\nHost: x\r\nX-Filler: {new string('a', 33_000)}\r\n\r\n")).ShouldStartWith("HTTP/1.1 431");

            // The exporter caches a scrape briefly: wait for one taken after the requests above.
            var scraped = (Status: 0, Text: "");
            await LedgerFixture.EventuallyAsync(async () =>
            {
                scraped = await Get("/metrics", LedgerFixture.ScrapeToken);
                return scraped.Status == 200 && scraped.Text.Contains("route=\"unknown\"") && scraped.Text.Contains("route=\"crm\"")
                    && scraped.Text.Contains("error_type=\"max_request_headers_total_size_exceeded\"");
            }, TimeSpan.FromSeconds(30));
            scraped.Text.ShouldContain("dataset=\"data/unknown\"");
            scraped.Text.ShouldContain("error_type=\"invalid_request_line\"");
            scraped.Text.ShouldNotContain("@example.com");
            scraped.Text.ShouldNotContain("random-");
        }
        finally
        {
            host.Kill(entireProcessTree: true);
            await host.WaitForExitAsync();
        }
    }

    /// <summary>Sends bytes no HTTP client would send and returns the server's answer, read until it closes the connection.</summary>
    private static async Task<string> RawExchange(int port, string request)
    {
        using var socket = new System.Net.Sockets.TcpClient();
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, port);
        var stream = socket.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request));
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0) answer.Write(buffer, 0, read);
        }
        catch (IOException)
        {
            // The server may reset a connection whose request it stopped reading; what it answered before that was read.
        }
        return System.Text.Encoding.ASCII.GetString(answer.ToArray());
    }

    [Fact]
    public async Task A_callers_trace_context_never_becomes_the_ledgers_correlation_id()
    {
        const string chosen = "4bf92f3577b34da6a3ce929d0e0e4736";
        var appId = await ledger.ActiveApp("traced");
        var owner = await ledger.PersonToken(Scenarios.Owner, "app-owner");
        var renewed = await ledger.SendRaw(HttpMethod.Post, $"/apps/{appId}/renew", System.Text.Encoding.UTF8.GetBytes("""{"reason":"traced renewal"}"""),
            "application/json", owner, new Dictionary<string, string> { ["traceparent"] = $"00-{chosen}-00f067aa0ba902b7-01", ["baggage"] = "user=ceo" });
        renewed.Status.ShouldBe(200, renewed.Text);
        renewed.Text.ShouldNotContain(chosen);
        var events = await ledger.StreamOf(appId);
        events.ShouldAllBe(e => e.CorrelationId == null || !e.CorrelationId.Contains(chosen));
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

    [Theory]
    [InlineData("jwe")]
    [InlineData("bad-base64")]
    [InlineData("not-json")]
    [InlineData("array")]
    [InlineData("number-subject")]
    [InlineData("invalid-utf8")]
    public async Task A_token_of_any_shape_is_refused_401_and_recorded_at_every_door(string shape)
    {
        static string Part(string text) => Base64UrlEncoder.Encode(text);
        var token = shape switch
        {
            // Five parts, as an encrypted token (JWE) has: token libraries half-recognize it and throw their own exceptions.
            "jwe" => $"{Part("""{"alg":"RSA-OAEP","enc":"A256GCM"}""")}.a.b.c.d",
            "bad-base64" => $"{Part("""{"alg":"RS256"}""")}.!!!~~~.sig",
            "not-json" => $"{Part("""{"alg":"RS256"}""")}.{Part("sub=app:x")}.sig",
            "array" => $"{Part("""{"alg":"RS256"}""")}.{Part("""["sub","app:x"]""")}.sig",
            "number-subject" => $"{Part("""{"alg":"RS256"}""")}.{Part("""{"sub":42}""")}.sig",
            _ => $"{Part("""{"alg":"RS256"}""")}.{Base64UrlEncoder.Encode(new byte[] { 0x7b, 0x22, 0x73, 0x75, 0x62, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d })}.sig"
        };
        // The gateway and the data proxy refuse it themselves; a method routing refuses is recorded on the way out, with
        // whatever the token claims read as the record's detail.
        foreach (var (method, path, body, status) in new (HttpMethod, string, string?, int)[]
                 {
                     (HttpMethod.Get, "/gw/crm/contacts", null, 401),
                     (HttpMethod.Post, "/data/customers/query", """{"fields":["customer_id"]}""", 401),
                     (HttpMethod.Get, "/data/customers/query", null, 405)
                 })
        {
            var refused = await ledger.Send(method, path, body, token);
            refused.Status.ShouldBe(status, $"{method} {path}: {refused.Text}");
            if (status == 401) refused.Node("detail")!.GetValue<string>().ShouldBe("The app token is not valid.");
            refused.RequestId.ShouldNotBeNull($"{method} {path}");
            var denial = (await ledger.AccessEvents(Denial.Unauthenticated)).OfType<AccessRecorded>().Single(e => e.RequestId == refused.RequestId);
            denial.Status.ShouldBe(status);
            denial.Decision.ShouldBe(AccessDecisions.Deny);
        }
    }

    [Fact]
    public async Task Health_answers_503_naming_the_ledger_while_the_database_is_unreachable_and_200_once_it_is_back()
    {
        // A separate process, reaching PostgreSQL through a relay this test cuts and restores.
        var server = new NpgsqlConnectionStringBuilder(ledger.ConnectionString);
        await using var relay = new TcpRelay(ChildHost.FreePort(), server.Host!, server.Port);
        relay.Start();
        var throughRelay = new NpgsqlConnectionStringBuilder(ledger.ConnectionString) { Port = relay.Port, Timeout = 2 }.ConnectionString;
        var port = ChildHost.FreePort();
        using var host = ChildHost.Start(ledger, port, throughRelay);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
            await ChildHost.WaitHealthy(client, host);

            relay.Cut();
            JsonNode? body = null;
            await LedgerFixture.EventuallyAsync(async () =>
            {
                using var response = await client.GetAsync("/health");
                body = JsonNode.Parse(await response.Content.ReadAsStringAsync());
                return (int)response.StatusCode == 503;
            }, TimeSpan.FromSeconds(20));
            body!["ledger"]!.GetValue<string>().ShouldBe("unreachable");
            body["status"]!.GetValue<string>().ShouldBe("unhealthy");

            relay.Start();
            await LedgerFixture.EventuallyAsync(async () => (await client.GetAsync("/health")).IsSuccessStatusCode, TimeSpan.FromSeconds(20));
        }
        finally
        {
            host.Kill(entireProcessTree: true);
            await host.WaitForExitAsync();
        }
    }
}
