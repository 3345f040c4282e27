using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Policies;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>PII with the PII scope is still shown only after the reveal policy passes for the end user now: MFA, low risk, a reason where asked.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Dynamic_masking_tests(LedgerFixture ledger)
{
    private const string EmailQuery = """{"fields":["customer_id","email"],"limit":5}""";

    private static string NewUser() => $"user-{Guid.NewGuid():N}@example.com";

    private async Task<IReadOnlyList<PiiRevealed>> RevealsOf(string app) => (await ledger.AccessEvents(app)).OfType<PiiRevealed>().ToList();

    private static bool Masked(ApiResponse answer) =>
        answer.Node("masked_fields")!.AsArray().Any(f => f!.GetValue<string>() == "email")
        && answer.Node("rows")!.AsArray().All(r => r!["email"]!.GetValue<string>().Contains('*'));

    [Fact]
    public async Task Pii_is_revealed_with_mfa_at_low_risk_and_every_reveal_is_recorded_with_its_risk_inputs()
    {
        var app = await ledger.DataApp("reveal-mfa");
        var user = NewUser();
        var answer = await ledger.Post("/data/customers/query", EmailQuery, await ledger.AppTokenFor(app, user, "EMEA", true));
        answer.Status.ShouldBe(200, answer.Text);
        answer.Node("masked_fields")!.AsArray().ShouldBeEmpty();
        answer.Node("rows")!.AsArray().ShouldAllBe(r => !r!["email"]!.GetValue<string>().Contains('*'));
        answer.Node("step_up").ShouldBeNull();

        var reveal = (await RevealsOf(app)).Single();
        reveal.EndUser.ShouldBe(user);
        reveal.Fields.ShouldBe(["email"]);
        reveal.Mfa.ShouldBeTrue();
        reveal.NewRegion.ShouldBeTrue("a user the ledger has never seen counts as a new region");
        reveal.RiskScore.ShouldBe(40);
        reveal.Region.ShouldBe("EMEA");
        reveal.PolicyIds.ShouldContain(p => p.StartsWith("reveal-pii-needs-mfa-and-low-risk v"));
        // Recorded with the query it belongs to.
        (await ledger.AccessEvents(app)).OfType<QueryExecuted>().ShouldContain(q => q.RequestId == reveal.RequestId);
    }

    [Fact]
    public async Task Without_mfa_pii_stays_masked_and_the_answer_says_which_step_up_reveals_which_fields()
    {
        var app = await ledger.DataApp("reveal-no-mfa");
        var token = await ledger.AppTokenWithoutMfa(app);
        var answer = await ledger.Post("/data/customers/query", EmailQuery, token);
        answer.Status.ShouldBe(200, answer.Text);
        Masked(answer).ShouldBeTrue(answer.Text);
        var stepUp = answer.Node("step_up")!;
        stepUp["reveals"]!.AsArray().Select(f => f!.GetValue<string>()).ShouldBe(["email"]);
        stepUp["needs"]!.AsArray().Select(n => n!.GetValue<string>()).ShouldBe(["sign in with a second factor (MFA)"]);
        (await RevealsOf(app)).ShouldBeEmpty();

        // Filtering on a PII field it may not see unmasked is refused, naming the step-up.
        var probe = await ledger.Post("/data/customers/query", """{"fields":["customer_id"],"filter":[{"field":"email","op":"eq","value":"a@b.c"}]}""", token);
        probe.Status.ShouldBe(403, probe.Text);
        probe.Text.ShouldContain("second factor");
    }

    [Fact]
    public async Task An_owner_token_without_a_named_end_user_never_reveals_pii_even_with_mfa()
    {
        var app = await ledger.DataApp("reveal-owner");
        var owner = await ledger.PersonToken(new JsonObject { ["sub"] = Owner, ["roles"] = Strings("app-owner"), ["amr"] = Strings("pwd", "mfa") });
        var issued = await ledger.Post($"/apps/{app}/tokens", "{}", owner);
        issued.Status.ShouldBe(200, issued.Text);
        var answer = await ledger.Post("/data/customers/query", EmailQuery, issued.Str("access_token"));
        answer.Status.ShouldBe(200, answer.Text);
        answer.Node("masked_fields")!.AsArray().Select(f => f!.GetValue<string>()).ShouldContain("email");
        answer.Node("step_up")!["needs"]![0]!.GetValue<string>().ShouldContain("named end user");
        (await RevealsOf(app)).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_user_with_recent_denials_is_high_risk_and_sees_pii_masked_even_with_mfa()
    {
        var app = await ledger.DataApp("reveal-risky");
        var user = NewUser();
        var token = await ledger.AppTokenFor(app, user, "EMEA", true);
        (await ledger.Post("/data/customers/query", EmailQuery, token)).Node("masked_fields")!.AsArray().ShouldBeEmpty();
        // Five refused requests (a field the app was never granted).
        for (var i = 0; i < 5; i++)
            (await ledger.Post("/data/customers/query", """{"fields":["segment"]}""", token)).Status.ShouldBe(403);

        var security = await ledger.PersonToken(Reviewer, "security-reviewer");
        ApiResponse risk = null!;
        await LedgerFixture.Eventually(async () =>
        {
            risk = await ledger.Get($"/ops/end-users/{Uri.EscapeDataString(user)}", security);
            return risk.Status == 200 && risk.Node("risk")!["denials24h"] is { } d && d.GetValue<int>() >= 5;
        });
        risk.Node("risk")!["score"]!.GetValue<int>().ShouldBe(50, risk.Text);

        var answer = await ledger.Post("/data/customers/query", EmailQuery, token);
        Masked(answer).ShouldBeTrue(answer.Text);
        answer.Node("step_up")!["needs"]![0]!.GetValue<string>().ShouldContain("lower risk score: 50");
        answer.Node("step_up")!["risk_reasons"]!.AsArray().ShouldContain(r => r!.GetValue<string>().Contains("5 denied request(s)"));
        (await RevealsOf(app)).Count.ShouldBe(1, "only the first, low-risk answer was a reveal");
    }

    [Fact]
    public async Task Where_the_dataset_asks_for_a_reason_pii_is_revealed_only_with_one_and_the_reason_is_recorded()
    {
        var configuration = (IConfigurationRoot)ledger.Host.Services.GetRequiredService<IConfiguration>();
        var catalog = ledger.Host.Services.GetRequiredService<IOptionsMonitor<DataCatalog>>();
        var index = catalog.CurrentValue.DatasetList.FindIndex(d => d.Name == "customers");
        var key = $"Catalog:DatasetList:{index}:RevealRequiresReason";
        configuration[key] = "true";
        configuration.Reload();
        try
        {
            catalog.CurrentValue.DatasetList[index].RevealRequiresReason.ShouldBeTrue("the test needs the catalog reloaded");
            var app = await ledger.DataApp("reveal-reason");
            var token = await ledger.AppToken(app);
            var without = await ledger.Post("/data/customers/query", EmailQuery, token);
            Masked(without).ShouldBeTrue(without.Text);
            without.Node("step_up")!["needs"]!.AsArray().Select(n => n!.GetValue<string>()).ShouldBe(["state a reason for access (X-Access-Reason header)"]);

            var with = await ledger.SendRaw(HttpMethod.Post, "/data/customers/query", System.Text.Encoding.UTF8.GetBytes(EmailQuery), "application/json", token,
                new Dictionary<string, string> { ["X-Access-Reason"] = "Ticket 4711: customer asked to update their e-mail" });
            with.Status.ShouldBe(200, with.Text);
            with.Json!["masked_fields"]!.AsArray().ShouldBeEmpty();
            (await RevealsOf(app)).Single().Reason.ShouldBe("Ticket 4711: customer asked to update their e-mail");
        }
        finally
        {
            configuration[key] = "false";
            configuration.Reload();
        }
    }
}
