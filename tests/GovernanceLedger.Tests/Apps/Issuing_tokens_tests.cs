using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

[Collection(LedgerCollection.Name)]
public sealed class Issuing_tokens_tests(LedgerFixture ledger)
{
    /// <summary>Validates as a gateway would: only the keys from /.well-known/jwks.json, RS256 only.</summary>
    private async Task<TokenValidationResult> ValidateWithJwks(string token)
    {
        var jwks = await ledger.Get("/.well-known/jwks.json", null);
        var discovery = await ledger.Get("/.well-known/openid-configuration", null);
        var keys = new JsonWebKeySet(jwks.Text).GetSigningKeys();
        return await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = discovery.Str("issuer"),
            ValidAudience = "governance-ledger-apps",
            IssuerSigningKeys = keys,
            ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
            // The suite's clock may have been moved forward; lifetime is asserted from the claims instead.
            ValidateLifetime = false
        });
    }

    [Fact]
    public async Task The_owner_gets_a_short_lived_token_whose_signature_and_claims_check_out_against_the_jwks()
    {
        var appId = await ledger.ActiveApp("tok");
        var owner = await ledger.PersonToken(Owner, "app-owner");

        var issued = await ledger.Post($"/apps/{appId}/tokens", null, owner);

        issued.Status.ShouldBe(200, issued.Text);
        issued.Str("token_type").ShouldBe("Bearer");
        issued.Node("expires_in")!.GetValue<int>().ShouldBe(900);
        issued.Str("scope").ShouldBe("read:contacts read:sales_metrics");
        var result = await ValidateWithJwks(issued.Str("access_token"));
        result.IsValid.ShouldBeTrue(result.Exception?.Message);
        var jwt = (JsonWebToken)result.SecurityToken;
        jwt.Subject.ShouldBe($"app:{appId}");
        jwt.GetClaim("jti").Value.ShouldBe(issued.Str("token_id"));
        jwt.GetPayloadValue<string[]>("scopes").ShouldBe(["read:contacts", "read:sales_metrics"]);
        (jwt.ValidTo - jwt.IssuedAt).ShouldBe(TimeSpan.FromMinutes(15));
        jwt.TryGetClaim("user", out _).ShouldBeFalse();
        jwt.Kid.ShouldNotBeNullOrEmpty();

        var recorded = (await ledger.TokensIssued(appId)).Single();
        recorded.TokenId.ShouldBe(jwt.Id);
        recorded.KeyId.ShouldBe(jwt.Kid);
        (await ledger.EventCount()).ShouldBeGreaterThan(0);
        await using (var session = ledger.Host.Services.GetRequiredService<Marten.IDocumentStore>().QuerySession())
        {
            // The token itself is never stored: no event in the whole ledger contains its signature.
            var signature = issued.Str("access_token").Split('.')[2];
            var hits = await session.QueryAsync<int>("select count(*)::int from ledger.mt_events where data::text like ?", $"%{signature}%");
            hits.Single().ShouldBe(0);
        }
    }

    [Fact]
    public async Task A_token_cannot_carry_a_scope_the_app_was_not_granted()
    {
        var appId = await ledger.ActiveApp("esc");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var escalation = await ledger.Post($"/apps/{appId}/tokens", new JsonObject { ["scopes"] = Strings("read:contacts", "write:contacts", "read:pii") }.ToJsonString(), owner);
        escalation.Status.ShouldBe(403);
        escalation.Node("errors")!.AsArray().Select(e => e!["field"]!.GetValue<string>()).ShouldBe(["scopes[1]", "scopes[2]"]);

        var narrowed = await ledger.Post($"/apps/{appId}/tokens", new JsonObject { ["scopes"] = Strings("read:contacts") }.ToJsonString(), owner);
        narrowed.Str("scope").ShouldBe("read:contacts");
    }

    [Fact]
    public async Task An_end_user_exchanging_their_own_token_is_named_in_the_app_token()
    {
        var appId = await ledger.ActiveApp("user", "emea.rep@example.com");
        var user = await ledger.PersonToken(new JsonObject { ["sub"] = "emea.rep@example.com", ["roles"] = Strings(), ["region"] = "EMEA" });
        var issued = await ledger.Post($"/apps/{appId}/tokens", null, user);
        issued.Status.ShouldBe(200, issued.Text);
        var jwt = new JsonWebToken(issued.Str("access_token"));
        jwt.GetClaim("user").Value.ShouldBe("emea.rep@example.com");
        jwt.GetClaim("user_region").Value.ShouldBe("EMEA");
        (await ledger.TokensIssued(appId)).Single().EndUser.ShouldBe("emea.rep@example.com");
    }

    [Fact]
    public async Task The_owner_can_exchange_an_end_users_token_but_a_forged_one_is_refused()
    {
        var appId = await ledger.ActiveApp("xchg", "na.rep@example.com");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var endUser = await ledger.PersonToken("na.rep@example.com");
        var exchanged = await ledger.Post($"/apps/{appId}/tokens", new JsonObject { ["subject_token"] = endUser }.ToJsonString(), owner);
        exchanged.Status.ShouldBe(200, exchanged.Text);
        new JsonWebToken(exchanged.Str("access_token")).GetClaim("user").Value.ShouldBe("na.rep@example.com");

        var forged = endUser[..^6] + "AAAAAA";
        var refused = await ledger.Post($"/apps/{appId}/tokens", new JsonObject { ["subject_token"] = forged }.ToJsonString(), owner);
        refused.Status.ShouldBe(400);
        refused.Node("errors.0.field")!.GetValue<string>().ShouldBe("subject_token");

        var stranger = await ledger.PersonToken("mallory@example.com");
        (await ledger.Post($"/apps/{appId}/tokens", new JsonObject { ["subject_token"] = endUser }.ToJsonString(), stranger)).Status.ShouldBe(403);
    }

    [Theory]
    [InlineData("pause")]
    [InlineData("retire")]
    public async Task A_paused_or_retired_app_gets_no_token(string action)
    {
        var appId = await ledger.ActiveApp(action);
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post($"/apps/{appId}/{action}", new JsonObject { ["reason"] = "test" }.ToJsonString(), owner)).Status.ShouldBe(200);
        var refused = await ledger.Post($"/apps/{appId}/tokens", null, owner);
        refused.Status.ShouldBe(403);
        refused.Node("errors.0.rule")!.GetValue<string>().ShouldBe("app-not-active");
    }

    [Fact]
    public async Task An_app_pending_review_gets_no_token()
    {
        var appId = NewAppId("pending");
        await ledger.Register(ReviewManifest(appId));
        (await ledger.Post($"/apps/{appId}/tokens", null, await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(403);
    }

    [Fact]
    public async Task After_key_rotation_old_tokens_still_verify_and_new_ones_use_the_new_key()
    {
        var appId = await ledger.ActiveApp("rot");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var before = new JsonWebToken((await ledger.Post($"/apps/{appId}/tokens", null, owner)).Str("access_token"));

        (await ledger.Post("/keys/rotate", null, owner)).Status.ShouldBe(403);
        var rotated = await ledger.Post("/keys/rotate", null, await ledger.PersonToken(Admin, "platform-admin"));
        rotated.Status.ShouldBe(200, rotated.Text);

        var afterToken = (await ledger.Post($"/apps/{appId}/tokens", null, owner)).Str("access_token");
        new JsonWebToken(afterToken).Kid.ShouldBe(rotated.Str("active_kid"));
        new JsonWebToken(afterToken).Kid.ShouldNotBe(before.Kid);
        (await ValidateWithJwks(before.EncodedToken)).IsValid.ShouldBeTrue();
        (await ValidateWithJwks(afterToken)).IsValid.ShouldBeTrue();
    }

    [Fact]
    public async Task Tokens_signed_by_another_key_or_with_alg_none_do_not_verify_against_the_jwks()
    {
        var appId = await ledger.ActiveApp("forge");
        var genuine = new JsonWebToken((await ledger.Post($"/apps/{appId}/tokens", null, await ledger.PersonToken(Owner, "app-owner"))).Str("access_token"));
        var attacker = new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)) { KeyId = genuine.Kid };
        var forged = new JsonWebTokenHandler().CreateToken(genuine.EncodedPayload.Length > 0
            ? Base64UrlEncoder.Decode(genuine.EncodedPayload) : "{}", new SigningCredentials(attacker, SecurityAlgorithms.RsaSha256));
        (await ValidateWithJwks(forged)).IsValid.ShouldBeFalse();

        var unsigned = $"{Base64UrlEncoder.Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}")}.{genuine.EncodedPayload}.";
        (await ValidateWithJwks(unsigned)).IsValid.ShouldBeFalse();
    }
}
