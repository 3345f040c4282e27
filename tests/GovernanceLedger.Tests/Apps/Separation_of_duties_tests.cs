using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

/// <summary>Nobody decides on their own app; one person counts once however their token spells them; refusals stay on the record.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Separation_of_duties_tests(LedgerFixture ledger)
{
    private async Task<IReadOnlyList<GovernanceActionRefused>> Refusals(string appId) =>
        (await ledger.StreamOf(GovernanceLedger.Apps.GovernanceStreams.For(appId, ledger.Clock.GetUtcNow())))
            .Select(e => e.Data).OfType<GovernanceActionRefused>().ToList();

    [Theory]
    [InlineData("security@example.com", "Security@Example.COM", null)]
    [InlineData("security@example.com", "sec-0001", "security@example.com")]
    [InlineData("security@example.com", " security@example.com ", null)]
    public async Task The_same_person_under_another_spelling_or_subject_counts_once(string first, string secondSub, string? secondEmail)
    {
        var appId = NewAppId("spell");
        (await ledger.Register(BroadManifest(appId))).Str("status").ShouldBe("pending_review");
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"first look"}""",
            await ledger.PersonToken(first, "security-reviewer"))).Status.ShouldBe(200);

        var again = new JsonObject { ["sub"] = secondSub, ["roles"] = Strings("security-reviewer") };
        if (secondEmail is not null) again["email"] = secondEmail;
        var refused = await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"second look"}""", await ledger.PersonToken(again));
        refused.Status.ShouldBeOneOf(403, 409);
        (await ledger.Get($"/apps/{appId}", await ledger.PersonToken(Admin, "platform-admin"))).Str("status").ShouldBe("pending_review");
    }

    [Fact]
    public async Task A_token_without_an_email_for_the_subject_that_registered_the_app_is_still_its_owner()
    {
        var withEmail = await ledger.PersonToken(new JsonObject { ["sub"] = "alice-id", ["email"] = "alice@example.com", ["roles"] = Strings("app-owner", "security-reviewer") });
        var appId = NewAppId("alice");
        (await ledger.Register(ReviewManifest(appId).With("owner", "alice@example.com"), withEmail)).Str("status").ShouldBe("pending_review");
        var sameSubject = await ledger.PersonToken(new JsonObject { ["sub"] = "alice-id", ["email"] = "alice.work@example.com", ["roles"] = Strings("security-reviewer") });
        var approved = await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"mine"}""", sameSubject);
        approved.Status.ShouldBe(403, approved.Text);
        approved.Text.ShouldContain("no-self-approval");
    }

    [Fact]
    public async Task The_same_subject_with_and_without_another_address_counts_once()
    {
        var appId = NewAppId("twoaddr");
        (await ledger.Register(BroadManifest(appId))).Str("status").ShouldBe("pending_review");
        var first = await ledger.PersonToken(new JsonObject { ["sub"] = "rev-id-1", ["email"] = "rev1@example.com", ["roles"] = Strings("security-reviewer") });
        var second = await ledger.PersonToken(new JsonObject { ["sub"] = "rev-id-1", ["email"] = "rev1.alias@example.com", ["roles"] = Strings("security-reviewer") });
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"one"}""", first)).Status.ShouldBe(200);
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"two"}""", second)).Status.ShouldBe(409);
    }

    [Fact]
    public async Task Agents_and_names_that_cannot_be_compared_hold_no_reviewer_or_admin_power()
    {
        var appId = await ledger.ActiveApp("agentpow");
        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");
        (await ledger.Post($"/apps/{appId}/pause", """{"reason":"security look"}""", reviewer)).Status.ShouldBe(200);
        foreach (var token in new[]
        {
            await ledger.PersonToken(new JsonObject { ["sub"] = "bot-1", ["roles"] = Strings("security-reviewer", "platform-admin"), ["actor_type"] = "agent" }),
            await ledger.PersonToken(new JsonObject { ["sub"] = "reviewer\u200b@example.com", ["roles"] = Strings("security-reviewer", "platform-admin") }),
        })
        {
            (await ledger.Post($"/apps/{appId}/resume", """{"reason":"lifting it"}""", token)).Status.ShouldBeOneOf(403, 404);
            (await ledger.Post($"/apps/{appId}/retire", """{"reason":"gone"}""", token)).Status.ShouldBeOneOf(403, 404);
            // Endpoints guarded by the named admin policy refuse them too.
            (await ledger.Post("/admin/projections/rebuild", null, token)).Status.ShouldBe(403);
        }
        (await ledger.Get($"/apps/{appId}", reviewer)).Str("status").ShouldBe("paused");
    }

    [Theory]
    [InlineData("\u200b")]
    [InlineData("\u2060\ufeff")]
    [InlineData("\u00ad")]
    [InlineData("   ")]
    public async Task A_reason_must_be_something_a_person_can_read(string reason)
    {
        var appId = await ledger.ActiveApp("reason");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post($"/apps/{appId}/renew", $$"""{"reason":"{{reason}}"}""", owner)).Status.ShouldBe(400);
        (await ledger.Post($"/apps/{appId}/pause", $$"""{"reason":"{{reason}}"}""", owner)).Status.ShouldBe(400);
    }

    [Theory]
    [InlineData("Agent")]
    [InlineData(" agent")]
    [InlineData("bot")]
    public async Task Any_actor_type_other_than_a_persons_is_an_agent(string actorType)
    {
        var agentToken = await ledger.PersonToken(new JsonObject { ["sub"] = Owner, ["roles"] = Strings("app-owner"), ["actor_type"] = actorType });
        var registered = await ledger.Register(ExampleManifest(NewAppId("actor")), agentToken);
        registered.Status.ShouldBe(400, registered.Text);
        registered.Text.ShouldContain("generated_by");

        var appId = NewAppId("agentrev");
        (await ledger.Register(ReviewManifest(appId))).Status.ShouldBe(201);
        var reviewer = await ledger.PersonToken(new JsonObject { ["sub"] = "bot@example.com", ["roles"] = Strings("security-reviewer"), ["actor_type"] = actorType });
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"lgtm"}""", reviewer)).Status.ShouldBe(403);
    }

    [Fact]
    public async Task A_homoglyph_of_an_audience_member_is_not_that_member()
    {
        var appId = await ledger.ActiveApp("kelvin", "kate@example.com");
        var kelvin = await ledger.PersonToken("\u212Aate@example.com");
        (await ledger.Post($"/apps/{appId}/tokens", null, kelvin)).Status.ShouldBe(403);
        (await ledger.Post($"/apps/{appId}/tokens", null, await ledger.PersonToken("KATE@example.com"))).Status.ShouldBe(200);
    }

    [Fact]
    public async Task A_security_pause_wins_over_an_owners_pause_and_only_another_reviewer_lifts_it()
    {
        var appId = await ledger.ActiveApp("secpause");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");

        (await ledger.Post($"/apps/{appId}/pause", """{"reason":"my own pause"}""", owner)).Status.ShouldBe(200);
        var security = await ledger.Post($"/apps/{appId}/pause", """{"reason":"suspicious reads"}""", reviewer);
        security.Status.ShouldBe(200, security.Text);
        var ownerResume = await ledger.Post($"/apps/{appId}/resume", """{"reason":"back to work"}""", owner);
        ownerResume.Status.ShouldBe(403);
        ownerResume.Text.ShouldContain("security-pause");
        (await ledger.Post($"/apps/{appId}/resume", """{"reason":"cleared"}""", reviewer)).Status.ShouldBe(200);

        // A reviewer who owns the app acts as its owner: their pause is an owner's pause, not a security pause.
        var ownApp = NewAppId("ownrev");
        (await ledger.Register(ExampleManifest(ownApp).With("owner", Reviewer), reviewer)).Status.ShouldBe(403);   // a reviewer is no registrant
        var both = await ledger.PersonToken(Reviewer, "security-reviewer", "app-owner");
        (await ledger.Register(ExampleManifest(ownApp).With("owner", Reviewer), both)).Str("status").ShouldBe("active");
        (await ledger.Post($"/apps/{ownApp}/pause", """{"reason":"mine"}""", both)).Status.ShouldBe(200);
        var promoted = await ledger.Post($"/apps/{ownApp}/pause", """{"reason":"promote my own"}""", both);
        promoted.Status.ShouldBe(409, promoted.Text);
    }

    [Fact]
    public async Task Refused_lifecycle_changes_are_on_the_apps_timeline_with_their_reason()
    {
        var appId = await ledger.ActiveApp("refused");
        var stranger = await ledger.PersonToken("mallory@example.com", "app-owner");
        var owner = await ledger.PersonToken(Owner, "app-owner");

        (await ledger.Post($"/apps/{appId}/pause", """{"reason":"because"}""", stranger)).Status.ShouldBe(404);
        (await ledger.Post($"/apps/{appId}/resume", """{"reason":"not paused"}""", owner)).Status.ShouldBe(409);
        (await ledger.Post($"/apps/{appId}/renew", """{"days":30}""", owner)).Status.ShouldBe(400);

        var refusals = await Refusals(appId);
        refusals.Select(r => (r.Action, r.Rule)).ShouldBe([("pause", "not-visible"), ("resume", "not-paused"), ("renew", "required")], ignoreOrder: true);
        refusals.ShouldAllBe(r => r.Reason.Length > 0 && r.Actor.StartsWith("person:"));

        var auditor = await ledger.PersonToken("auditor@example.com", "auditor");
        var timeline = await ledger.Get($"/audit/timeline?app_id={appId}", auditor);
        timeline.Text.ShouldContain("governance_action_refused");
    }

    [Fact]
    public async Task Renewals_carry_a_reason()
    {
        var appId = await ledger.ActiveApp("renewal");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post($"/apps/{appId}/renew", null, owner)).Status.ShouldBe(400);
        (await ledger.Post($"/apps/{appId}/renew", """{"days":30,"reason":"quarterly review passed"}""", owner)).Status.ShouldBe(200);
        (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppRenewed>().Single().Reason.ShouldBe("quarterly review passed");
    }

    /// <summary>The body with the app id blanked and the per-request trace id left out.</summary>
    private static string Comparable(ApiResponse response, string appId)
    {
        if (response.Json is JsonObject body)
        {
            body.Remove("traceId");
            body.Remove("trace_id");
        }
        return (response.Json?.ToJsonString() ?? response.Text).Replace(appId, "ID");
    }

    [Fact]
    public async Task An_app_you_may_not_see_answers_exactly_like_one_that_does_not_exist()
    {
        var appId = await ledger.ActiveApp("hidden");
        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");
        (await ledger.Post($"/apps/{appId}/pause", """{"reason":"security"}""", reviewer)).Status.ShouldBe(200);
        var stranger = await ledger.PersonToken("mallory@example.com", "app-owner");
        var missing = NewAppId("missing");

        foreach (var (method, path, body) in new (HttpMethod, string, string?)[]
        {
            (HttpMethod.Get, "/apps/{0}", null), (HttpMethod.Get, "/apps/{0}/events", null),
            (HttpMethod.Post, "/apps/{0}/pause", """{"reason":"x"}"""), (HttpMethod.Post, "/apps/{0}/resume", """{"reason":"x"}"""),
            (HttpMethod.Post, "/apps/{0}/renew", """{"days":5,"reason":"x"}"""), (HttpMethod.Post, "/apps/{0}/retire", """{"reason":"x"}"""),
            (HttpMethod.Post, "/apps/{0}/tokens", null),
        })
        {
            var real = await ledger.Send(method, string.Format(path, appId), body, stranger);
            var none = await ledger.Send(method, string.Format(path, missing), body, stranger);
            real.Status.ShouldBe(none.Status, $"{method} {path}: {real.Text}");
            Comparable(real, appId).ShouldBe(Comparable(none, missing), $"{method} {path}");
            real.Text.ShouldNotContain(Reviewer);
            real.Text.ShouldNotContain("paused");
        }
    }
}
