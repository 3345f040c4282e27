using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Security;

[Collection(LedgerCollection.Name)]
public sealed class People_authentication_tests(LedgerFixture ledger)
{
    public static TheoryData<string, string> ControlPlane => new()
    {
        { "POST", "/apps" }, { "POST", "/apps/from-template/survey-form" }, { "GET", "/apps" }, { "GET", "/apps/x-app" },
        { "GET", "/apps/x-app/events" }, { "POST", "/apps/x-app/approvals" }, { "POST", "/apps/x-app/tokens" },
        { "POST", "/apps/x-app/renew" }, { "POST", "/apps/x-app/pause" }, { "POST", "/apps/x-app/resume" },
        { "POST", "/apps/x-app/retire" }, { "GET", "/templates" }, { "GET", "/policies" }, { "POST", "/keys/rotate" }
    };

    [Theory]
    [MemberData(nameof(ControlPlane))]
    public async Task Control_plane_endpoints_answer_401_without_a_token(string method, string path)
    {
        var response = await ledger.Send(new HttpMethod(method), path, method == "POST" ? "{}" : null, null);
        response.Status.ShouldBe(401);
    }

    private static string Sign(SecurityKey key, string issuer, string audience, DateTime expires, string algorithm = SecurityAlgorithms.RsaSha256) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Claims = new Dictionary<string, object> { ["sub"] = Admin, ["roles"] = new[] { "platform-admin" } },
            NotBefore = expires.AddHours(-2),
            IssuedAt = expires.AddHours(-2),
            Expires = expires,
            SigningCredentials = new SigningCredentials(key, algorithm)
        });

    [Fact]
    public async Task Forged_expired_wrong_issuer_wrong_audience_and_unsigned_people_tokens_get_401()
    {
        var devKey = GovernanceLedger.Security.DevelopmentIssuer.SigningKey;
        const string issuer = GovernanceLedger.Security.DevelopmentIssuer.Issuer;
        var attackerKey = new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)) { KeyId = devKey.KeyId };
        var soon = DateTime.UtcNow.AddHours(1);
        var tokens = new Dictionary<string, string>
        {
            ["forged"] = Sign(attackerKey, issuer, "governance-ledger", soon),
            ["expired"] = Sign(devKey, issuer, "governance-ledger", DateTime.UtcNow.AddMinutes(-5)),
            ["wrong issuer"] = Sign(devKey, "https://evil.example.com/", "governance-ledger", soon),
            ["wrong audience"] = Sign(devKey, issuer, "some-other-api", soon),
            ["symmetric"] = Sign(new SymmetricSecurityKey(new byte[32]), issuer, "governance-ledger", soon, SecurityAlgorithms.HmacSha256),
        };
        var good = Sign(devKey, issuer, "governance-ledger", soon);
        var payload = good.Split('.')[1];
        tokens["alg none"] = $"{Base64UrlEncoder.Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}")}.{payload}.";

        (await ledger.Get("/apps", good)).Status.ShouldBe(200);
        foreach (var (name, token) in tokens)
            (await ledger.Get("/apps", token)).Status.ShouldBe(401, name);
    }

    [Fact]
    public async Task Wrong_roles_get_403()
    {
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post("/keys/rotate", null, owner)).Status.ShouldBe(403);
        var finance = await ledger.PersonToken("finance@example.com", "finance");
        var appId = NewAppId("roles");
        await ledger.Register(ReviewManifest(appId));
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"x"}""", finance)).Status.ShouldBe(403);
        (await ledger.Post($"/apps/{appId}/pause", """{"reason":"x"}""", finance)).Status.ShouldBe(403);
    }

    [Fact]
    public async Task The_development_issuer_refuses_unknown_roles()
    {
        var response = await ledger.Post("/dev/tokens", """{"sub":"x@example.com","roles":["god-mode"]}""", null);
        response.Status.ShouldBe(400);
        response.Node("errors.0.field")!.GetValue<string>().ShouldBe("roles");
    }

    [Fact]
    public async Task Data_plane_requests_never_run_the_people_schemes_and_the_control_plane_authenticates_once()
    {
        var schemes = (CountingSchemeProvider)ledger.Host.Services.GetRequiredService<Microsoft.AspNetCore.Authentication.IAuthenticationSchemeProvider>();
        var appId = await ledger.DataApp("no-people-auth");
        var token = await ledger.AppToken(appId, "EMEA", "read:contacts", "read:sales_data");
        var admin = await ledger.PersonToken(Admin, "platform-admin");

        var before = schemes.MiddlewareRuns;
        (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        var query = await ledger.Post("/data/sales_data/query", new { fields = new[] { "order_id" }, limit = 1 }, token);
        query.Status.ShouldBe(200, query.Text);
        // A people token on the data plane is not tried as one either: it is refused as an app token.
        (await ledger.Get("/gw/crm/contacts?limit=1", admin)).Status.ShouldBe(401);
        schemes.MiddlewareRuns.ShouldBe(before);

        (await ledger.Get("/apps", admin)).Status.ShouldBe(200);
        schemes.MiddlewareRuns.ShouldBe(before + 1);
    }
}
