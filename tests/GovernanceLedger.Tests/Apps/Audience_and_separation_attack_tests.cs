using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using Microsoft.IdentityModel.JsonWebTokens;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

/// <summary>Employees using apps they were not meant to, and builders or agents counting themselves as reviewers.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Audience_and_separation_attack_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task A_person_outside_the_audience_gets_no_token_and_the_refusal_is_on_the_apps_timeline()
    {
        var appId = await ledger.ActiveApp("aud", "ana@example.com");
        var stranger = await ledger.PersonToken("mallory@example.com");

        var refused = await ledger.Post($"/apps/{appId}/tokens", null, stranger);
        refused.Status.ShouldBe(403, refused.Text);
        refused.Text.ShouldContain("audience");

        var owner = await ledger.PersonToken(Owner, "app-owner");
        var exchanged = await ledger.Post($"/apps/{appId}/tokens", new JsonObject { ["subject_token"] = stranger }.ToJsonString(), owner);
        exchanged.Status.ShouldBe(403, exchanged.Text);

        var member = await ledger.PersonToken("ana@example.com");
        (await ledger.Post($"/apps/{appId}/tokens", null, member)).Status.ShouldBe(200);

        var refusals = (await ledger.StreamOf(GovernanceLedger.Apps.IssuingTokens.TokenStreams.For(appId, ledger.Clock.GetUtcNow())))
            .Select(e => e.Data).OfType<AppTokenRefused>().ToList();
        refusals.Count.ShouldBe(2);
        refusals.ShouldAllBe(r => r.Rule == "audience" && r.EndUser == "mallory@example.com");
    }

    [Fact]
    public async Task Without_an_audience_only_the_owner_uses_the_app_and_even_an_admin_is_refused()
    {
        var appId = await ledger.ActiveApp("solo");
        (await ledger.Post($"/apps/{appId}/tokens", null, await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(200);
        (await ledger.Post($"/apps/{appId}/tokens", null, await ledger.PersonToken(Admin, "platform-admin"))).Status.ShouldBe(403);
        (await ledger.Post($"/apps/{appId}/tokens", null, await ledger.PersonToken("someone@example.com"))).Status.ShouldBe(403);
    }

    [Fact]
    public async Task A_group_in_the_audience_admits_its_members_only()
    {
        var appId = NewAppId("grp");
        (await ledger.Register(ExampleManifest(appId).With("audience", new JsonObject { ["groups"] = Strings("sales-emea") }))).Status.ShouldBe(201);
        var member = await ledger.PersonToken(new JsonObject { ["sub"] = "rep@example.com", ["groups"] = Strings("sales-emea") });
        var outsider = await ledger.PersonToken(new JsonObject { ["sub"] = "dev@example.com", ["groups"] = Strings("engineering") });
        var issued = await ledger.Post($"/apps/{appId}/tokens", null, member);
        issued.Status.ShouldBe(200, issued.Text);
        new JsonWebToken(issued.Str("access_token")).GetClaim("user").Value.ShouldBe("rep@example.com");
        (await ledger.Post($"/apps/{appId}/tokens", null, outsider)).Status.ShouldBe(403);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_app_asking_for_pii_always_goes_to_a_security_reviewer(bool withPiiField)
    {
        var appId = NewAppId("pii");
        var manifest = ExampleManifest(appId).With("scopes", Strings("read:customers", "read:pii"))
            .With("connectors", Strings("postgres:salesdb"))
            .With("datasets", Datasets(("customers", withPiiField ? ["customer_id", "email"] : ["customer_id"])));
        var registered = await ledger.Register(manifest);
        registered.Status.ShouldBe(201, registered.Text);
        registered.Str("status").ShouldBe("pending_review");
        registered.Text.ShouldContain("pii-needs-security-review");
    }

    [Fact]
    public async Task One_human_counts_once_even_when_their_token_claims_to_be_an_agent_and_agents_never_approve()
    {
        var appId = NewAppId("twice");
        (await ledger.Register(BroadManifest(appId))).Str("status").ShouldBe("pending_review");
        var asPerson = await ledger.PersonToken(Reviewer, "security-reviewer");
        var asAgent = await ledger.PersonToken(new JsonObject { ["sub"] = Reviewer, ["roles"] = Strings("security-reviewer"), ["actor_type"] = "agent" });

        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"looked at it"}""", asPerson)).Status.ShouldBe(200);
        var again = await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"and again"}""", asAgent);
        again.Status.ShouldBe(403, again.Text);
        again.Text.ShouldContain("agents-never-approve");

        var agentApp = NewAppId("agentapp");
        (await ledger.Register(ExampleManifest(agentApp).With("generated_by", "agent"))).Str("status").ShouldBe("pending_review");
        var agentReviewer = await ledger.PersonToken(new JsonObject { ["sub"] = "bot@example.com", ["roles"] = Strings("security-reviewer"), ["actor_type"] = "agent" });
        (await ledger.Post($"/apps/{agentApp}/approvals", """{"decision":"approve","reason":"lgtm"}""", agentReviewer)).Status.ShouldBe(403);
        (await ledger.Get($"/apps/{agentApp}", asPerson)).Str("status").ShouldBe("pending_review");
    }

    [Theory]
    [InlineData("")]
    [InlineData("auditor")]
    [InlineData("finance")]
    [InlineData("security-reviewer")]
    public async Task Registering_needs_the_app_owner_or_platform_admin_role(string role)
    {
        var before = await ledger.EventCount();
        var token = await ledger.PersonToken(Owner, role.Length == 0 ? [] : [role]);
        var appId = NewAppId("norole");
        var refused = await ledger.Post("/apps", ExampleManifest(appId).ToJsonString(), token);
        refused.Status.ShouldBe(403, refused.Text);
        refused.ContentType.ShouldBe("application/problem+json");
        refused.Str("errors.0.rule").ShouldBe("app-owner");
        // Nothing is registered; the one event written is the refusal itself.
        (await ledger.StreamOf(appId)).ShouldBeEmpty();
        (await ledger.EventCount()).ShouldBe(before + 1);
        (await ledger.StreamOf(GovernanceLedger.Apps.GovernanceStreams.Ledger(ledger.Clock.GetUtcNow()))).Select(e => e.Data)
            .OfType<GovernanceLedger.Contracts.Apps.GovernanceActionRefused>().ShouldContain(r => r.Action == "registerApp" && r.Rule == "app-owner");
    }

    [Fact]
    public async Task Quotas_above_the_default_or_the_templates_ceiling_need_review()
    {
        var high = await ledger.Register(ExampleManifest(NewAppId("quota")).With("quotas", new JsonObject { ["requests_per_day"] = 5_000 }));
        high.Str("status").ShouldBe("pending_review");
        high.Text.ShouldContain("requests_per_day 5000 > 1000");

        var within = await ledger.Register(ExampleManifest(NewAppId("quota")).With("quotas", new JsonObject { ["requests_per_day"] = 500 }));
        within.Str("status").ShouldBe("active");

        var token = await ledger.PersonToken(Owner, "app-owner");
        var viaTemplate = await ledger.Post("/apps/from-template/survey-form", new JsonObject
        {
            ["app_id"] = NewAppId("tq"), ["owner"] = Owner, ["quotas"] = new JsonObject { ["rows_per_day"] = 100_000_000_000 }
        }.ToJsonString(), token);
        viaTemplate.Str("status").ShouldBe("pending_review", viaTemplate.Text);
        viaTemplate.Text.ShouldContain("rows_per_day");
    }
}
