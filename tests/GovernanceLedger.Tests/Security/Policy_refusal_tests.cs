using System.Text.Json.Nodes;
using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Tests.Streaming;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Security;

/// <summary>Endpoints guarded by a named policy refuse like every other refusal: a rule in the answer, a record in the ledger.</summary>
[Collection(StreamingCollection.Name)]
public sealed class Policy_refusal_tests(StreamingFixture ledger)
{
    private async Task<IReadOnlyList<GovernanceActionRefused>> PolicyRefusals() =>
        (await ledger.StreamOf(GovernanceStreams.Ledger(ledger.Clock.GetUtcNow()))).Select(e => e.Data).OfType<GovernanceActionRefused>().ToList();

    [Fact]
    public async Task A_person_without_the_role_a_policy_asks_for_gets_403_naming_the_rule_and_the_attempt_is_recorded()
    {
        var owner = await ledger.PersonToken("policy-probe@example.com", "app-owner");
        var appId = await ledger.ActiveApp("policyprobe");

        var declare = await ledger.Post("/cdc/connectors", """{"connector_id":"probe"}""", owner);
        declare.Status.ShouldBe(403);
        declare.ContentType.ShouldBe("application/problem+json");
        declare.Str("errors.0.rule").ShouldBe("platform-admin");

        var revoke = await ledger.Send(HttpMethod.Delete, $"/topics/{StreamingScenarios.SalesTopic}/grants/{appId}?reason=mine", null, owner);
        revoke.Status.ShouldBe(403);
        revoke.Str("errors.0.rule").ShouldBe("security-reviewer");

        var refusals = (await PolicyRefusals()).Where(r => r.Actor.Contains("policy-probe@example.com")).ToList();
        refusals.ShouldContain(r => r.Rule == "platform-admin" && r.AppId == "");
        refusals.ShouldContain(r => r.Rule == "security-reviewer" && r.AppId == appId);
    }

    [Fact]
    public async Task An_agent_holding_the_admin_role_is_refused_by_the_policy_too()
    {
        var agent = await ledger.PersonToken(new JsonObject
        {
            ["sub"] = "builder-bot", ["email"] = "bot@example.com", ["roles"] = new JsonArray("platform-admin"), ["actor_type"] = "agent"
        });
        var refused = await ledger.Send(HttpMethod.Put, "/registry/config", """{"compatibility":"NONE"}""", agent);
        refused.Status.ShouldBe(403);
        // Registry clients read Confluent's error shape.
        refused.Json!["error_code"]!.GetValue<int>().ShouldBe(40301);
        (await PolicyRefusals()).ShouldContain(r => r.Rule == "platform-admin" && r.Actor.Contains("builder-bot"));
    }

    [Fact]
    public async Task Someone_who_is_not_signed_in_is_told_to_sign_in_and_nothing_is_recorded_for_them()
    {
        var before = (await PolicyRefusals()).Count;
        (await ledger.Post("/cdc/connectors", """{"connector_id":"probe"}""", null)).Status.ShouldBe(401);
        (await PolicyRefusals()).Count.ShouldBe(before);
    }
}
