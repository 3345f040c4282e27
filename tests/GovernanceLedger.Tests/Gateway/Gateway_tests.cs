using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Gateway;

[Collection(LedgerCollection.Name)]
public sealed class Gateway_tests(LedgerFixture ledger)
{
    private async Task<AccessRecorded> RecordedFor(string appId, ApiResponse response) =>
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().Single(e => e.RequestId == response.RequestId);

    [Fact]
    public async Task An_app_token_reaches_the_upstream_through_the_gateway_and_the_access_is_recorded()
    {
        var appId = await ledger.DataApp("gw");
        var token = await ledger.AppToken(appId);

        var response = await ledger.Get("/gw/crm/contacts?limit=3", token);

        response.Status.ShouldBe(200, response.Text);
        response.Json!.AsArray().Count.ShouldBe(3);
        var recorded = await RecordedFor(appId, response);
        recorded.Decision.ShouldBe("allow");
        recorded.Status.ShouldBe(200);
        recorded.Route.ShouldBe("crm");
        recorded.Method.ShouldBe("GET");
        recorded.EndUser.ShouldNotBeNull();
        recorded.PolicyId.ShouldBe("runtime-scopes-required");
        recorded.PolicyVersion.ShouldBe(1);
        recorded.TokenId.ShouldBe(new JsonWebToken(token).Id);
    }

    [Fact]
    public async Task The_upstream_never_sees_the_app_token_only_who_is_calling()
    {
        var appId = await ledger.DataApp("hdr");
        var headers = await ledger.Get("/gw/diag/echo-headers", await ledger.AppToken(appId));
        headers.Status.ShouldBe(200);
        headers.Json!.AsObject().ContainsKey("authorization").ShouldBeFalse();
        headers.Str("x-app-id").ShouldBe(appId);
    }

    [Fact]
    public async Task An_end_user_whose_name_is_not_plain_ascii_is_served_and_the_upstream_hears_the_name_percent_encoded()
    {
        var appId = await ledger.DataApp("hdr-utf8");
        const string user = "josé.zw\u200buser@example.com";
        var encoded = await ledger.Get("/gw/diag/echo-headers", await ledger.AppTokenFor(appId, user, "EMEA", true));
        encoded.Status.ShouldBe(200, encoded.Text);
        encoded.Str("x-end-user").ShouldBe(Uri.EscapeDataString(user));
        Uri.UnescapeDataString(encoded.Str("x-end-user")).ShouldBe(user);
        encoded.Str("x-end-user-encoding").ShouldBe("percent");
        (await RecordedFor(appId, encoded)).ShouldSatisfyAllConditions(
            a => a.Decision.ShouldBe(AccessDecisions.Allow), a => a.Status.ShouldBe(200), a => a.EndUser.ShouldBe(user));

        // A plain name goes as it is, with nothing saying it is encoded; a client cannot claim an encoding either.
        var plain = await ledger.SendRaw(HttpMethod.Get, "/gw/diag/echo-headers", null, null, await ledger.AppTokenFor(appId, "plain.user@example.com", "EMEA", true),
            new Dictionary<string, string> { ["X-End-User-Encoding"] = "percent" });
        plain.Status.ShouldBe(200, plain.Text);
        plain.Str("x-end-user").ShouldBe("plain.user@example.com");
        plain.Json!.AsObject().ContainsKey("x-end-user-encoding").ShouldBeFalse();
    }

    private static string Sign(SecurityKey key, string issuer, string audience, string subject, DateTime expires, string alg = SecurityAlgorithms.RsaSha256) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer, Audience = audience, NotBefore = expires.AddHours(-1), IssuedAt = expires.AddHours(-1), Expires = expires,
            Claims = new Dictionary<string, object> { ["sub"] = subject, ["scopes"] = new[] { "read:contacts" } },
            SigningCredentials = new SigningCredentials(key, alg)
        });

    [Fact]
    public async Task Missing_expired_forged_unsigned_wrong_issuer_and_wrong_audience_tokens_get_401_and_a_denial_event()
    {
        var appId = await ledger.DataApp("attack");
        var genuine = new JsonWebToken(await ledger.AppToken(appId));
        var issuer = genuine.Issuer;
        var audience = genuine.Audiences.Single();
        var attacker = new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)) { KeyId = genuine.Kid };
        var now = ledger.Clock.GetUtcNow().UtcDateTime;
        var attacks = new Dictionary<string, string?>
        {
            ["missing"] = null,
            ["garbage"] = "not-a-jwt",
            ["forged signature"] = Sign(attacker, issuer, audience, $"app:{appId}", now.AddMinutes(10)),
            ["alg none"] = $"{Base64UrlEncoder.Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}")}.{genuine.EncodedPayload}.",
            ["symmetric alg"] = Sign(new SymmetricSecurityKey(new byte[32]) { KeyId = genuine.Kid }, issuer, audience, $"app:{appId}", now.AddMinutes(10), SecurityAlgorithms.HmacSha256),
            ["people token"] = await ledger.PersonToken(Owner, "platform-admin"),
        };
        foreach (var (name, token) in attacks)
        {
            var response = await ledger.Get("/gw/crm/contacts", token);
            response.Status.ShouldBe(401, name);
            response.ContentType.ShouldBe("application/problem+json", name);
            var denial = (await ledger.AccessEvents("unauthenticated")).OfType<AccessRecorded>().Single(e => e.RequestId == response.RequestId);
            denial.Decision.ShouldBe("deny", name);
            denial.Status.ShouldBe(401, name);
        }

        // Expired, wrong issuer and wrong audience: re-sign the genuine claims with the ledger's own key.
        var keys = ledger.Host.Services.GetRequiredService<GovernanceLedger.Security.SigningKeys>();
        var ledgerKey = (await keys.ActiveAsync()).Key;
        foreach (var (name, token) in new Dictionary<string, string>
        {
            ["expired"] = Sign(ledgerKey, issuer, audience, $"app:{appId}", now.AddMinutes(-5)),
            ["wrong issuer"] = Sign(ledgerKey, "https://evil.example.com", audience, $"app:{appId}", now.AddMinutes(10)),
            ["wrong audience"] = Sign(ledgerKey, issuer, "some-other-api", $"app:{appId}", now.AddMinutes(10)),
        })
        {
            var response = await ledger.Get("/gw/crm/contacts", token);
            response.Status.ShouldBe(401, name);
            var denial = (await ledger.AccessEvents("unauthenticated")).OfType<AccessRecorded>().Single(e => e.RequestId == response.RequestId);
            denial.ClaimedApp.ShouldBe($"app:{appId}", name);
        }
        Sign(ledgerKey, issuer, audience, $"app:{appId}", now.AddMinutes(10)).ShouldNotBeNull();
        (await ledger.Get("/gw/crm/contacts", Sign(ledgerKey, issuer, audience, $"app:{appId}", now.AddMinutes(10)))).Status.ShouldBe(200);
    }

    [Fact]
    public async Task A_missing_scope_gets_403_naming_the_scope_and_the_policy_that_decided()
    {
        var appId = await ledger.DataApp("scope");
        var narrowed = await ledger.AppToken(appId, "EMEA", "read:customers");
        var response = await ledger.Get("/gw/crm/contacts", narrowed);
        response.Status.ShouldBe(403);
        response.Text.ShouldContain("read:contacts");
        var denial = await RecordedFor(appId, response);
        denial.PolicyId.ShouldBe("runtime-scopes-required");
        denial.Reason.ShouldContain("read:contacts");

        // A scope the app was never granted cannot be used even by POSTing to a write route.
        var write = await ledger.Post("/gw/crm/contacts", """{"name":"x","email":"x@example.com"}""", await ledger.AppToken(appId));
        write.Status.ShouldBe(403);
    }

    [Fact]
    public async Task An_app_paused_while_its_token_is_still_valid_is_refused_within_a_second()
    {
        var appId = await ledger.DataApp("paused");
        var token = await ledger.AppToken(appId);
        (await ledger.Get("/gw/crm/contacts", token)).Status.ShouldBe(200);

        var clock = Stopwatch.StartNew();
        (await ledger.Post($"/apps/{appId}/pause", """{"reason":"anomaly"}""", await ledger.PersonToken(Reviewer, "security-reviewer"))).Status.ShouldBe(200);
        ApiResponse? refused = null;
        await LedgerFixture.EventuallyAsync(async () => (refused = await ledger.Get("/gw/crm/contacts", token)).Status == 403, TimeSpan.FromSeconds(3));
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(1));
        refused!.Text.ShouldContain("app is paused");
        (await RecordedFor(appId, refused)).PolicyId.ShouldBe("runtime-app-must-be-active");
    }

    [Fact]
    public async Task A_body_that_breaks_the_routes_schema_gets_400_naming_the_violations()
    {
        var appId = await ledger.DataApp("schema", null, "write:contacts");
        var token = await ledger.AppToken(appId);
        var bad = await ledger.Post("/gw/crm/contacts", """{"name":"","email":"not-an-email","is_admin":true}""", token);
        bad.Status.ShouldBe(400, bad.Text);
        bad.Text.ShouldContain("email");
        bad.Text.ShouldContain("is_admin");
        (await RecordedFor(appId, bad)).Decision.ShouldBe("deny");

        var good = await ledger.Post("/gw/crm/contacts", """{"name":"Ada","email":"ada@example.com"}""", token);
        good.Status.ShouldBe(201, good.Text);
        good.Str("created_by_app").ShouldBe(appId);
    }

    [Fact]
    public async Task The_rate_limit_answers_429_with_retry_after()
    {
        var appId = await ledger.DataApp("rate", new JsonObject { ["requests_per_second"] = 2 });
        var token = await ledger.AppToken(appId);
        var responses = new List<ApiResponse>();
        for (var i = 0; i < 6; i++) responses.Add(await ledger.Get("/gw/crm/contacts?limit=1", token));
        var limited = responses.Where(r => r.Status == 429).ToList();
        limited.ShouldNotBeEmpty();
        limited.ShouldAllBe(r => r.RetryAfter >= 1);
        (await RecordedFor(appId, limited[0])).Reason.ShouldStartWith("rate-limit");
    }

    [Fact]
    public async Task The_daily_quota_answers_429_with_retry_after_until_midnight()
    {
        var appId = await ledger.DataApp("quota", new JsonObject { ["requests_per_day"] = 3, ["requests_per_second"] = 100 });
        var token = await ledger.AppToken(appId);
        for (var i = 0; i < 3; i++) (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        var over = await ledger.Get("/gw/crm/contacts?limit=1", token);
        over.Status.ShouldBe(429);
        var now = ledger.Clock.GetUtcNow();
        var untilMidnight = (new DateTimeOffset(now.UtcDateTime.Date.AddDays(1), TimeSpan.Zero) - now).TotalSeconds;
        over.RetryAfter!.Value.ShouldBe(untilMidnight, 2);
        (await RecordedFor(appId, over)).Reason.ShouldStartWith("daily-quota");
    }

    [Fact]
    public async Task Requests_refused_after_admission_spend_none_of_the_daily_quota_at_either_door()
    {
        var appId = await ledger.DataApp("quota-refund", new JsonObject { ["requests_per_day"] = 3, ["requests_per_second"] = 100 }, "write:contacts");
        var token = await ledger.AppToken(appId);
        // Admitted, then refused: a body that breaks the route's schema, a query that asks too much, a field not granted.
        for (var i = 0; i < 3; i++)
            (await ledger.Post("/gw/crm/contacts", """{"name":"","email":"not-an-email"}""", token)).Status.ShouldBe(400);
        (await ledger.Post("/data/customers/query", """{"limit":5000}""", token)).Status.ShouldBe(400);
        (await ledger.Post("/data/customers/query", """{"fields":["segment"]}""", token)).Status.ShouldBe(403);

        // The three a day are still there, and only they are counted as allowed.
        for (var i = 0; i < 3; i++) (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        var over = await ledger.Get("/gw/crm/contacts?limit=1", token);
        over.Status.ShouldBe(429);
        (await RecordedFor(appId, over)).Reason.ShouldStartWith("daily-quota");
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().Count(a => a.Decision == AccessDecisions.Allow).ShouldBe(3);
    }

    [Fact]
    public async Task Unknown_routes_and_methods_are_refused_and_recorded()
    {
        var appId = await ledger.DataApp("route");
        var token = await ledger.AppToken(appId);
        (await ledger.Get("/gw/payroll/salaries", token)).Status.ShouldBe(404);
        (await ledger.Send(HttpMethod.Delete, "/gw/crm/contacts/1", null, token)).Status.ShouldBe(405);
    }
}
