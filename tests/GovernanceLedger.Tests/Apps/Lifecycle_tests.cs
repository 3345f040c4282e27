using Alba;
using System.Text.Json.Nodes;
using GovernanceLedger.Apps.Expiring;
using GovernanceLedger.Contracts.Apps;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

[Collection(LedgerCollection.Name)]
public sealed class Lifecycle_tests(LedgerFixture ledger)
{
    private static string Reason(string reason) => new JsonObject { ["reason"] = reason }.ToJsonString();

    /// <summary>Delivers the scheduled expiry message now, as Wolverine would when its time came.</summary>
    private async Task Expire(string appId)
    {
        using var scope = ledger.Host.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(new ExpireApp(appId));
    }

    [Fact]
    public async Task An_app_expires_when_its_time_comes_and_renewing_brings_it_back()
    {
        var appId = NewAppId("exp");
        (await ledger.Register(ExampleManifest(appId).With("expires_in_days", 7))).Str("status").ShouldBe("active");
        var owner = await ledger.PersonToken(Owner, "app-owner");

        await Expire(appId);   // not due yet: nothing happens
        (await ledger.Get($"/apps/{appId}", owner)).Str("status").ShouldBe("active");

        ledger.Clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        (await ledger.Post($"/apps/{appId}/tokens", null, owner)).Status.ShouldBe(403);   // refused even before the event fires
        await Expire(appId);

        var expired = await ledger.Get($"/apps/{appId}", owner);
        expired.Str("status").ShouldBe("expired");
        (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppExpired>().ShouldHaveSingleItem().Actor.ShouldBe("ledger");

        var renewed = await ledger.Post($"/apps/{appId}/renew", """{"days": 30, "reason": "still needed"}""", owner);
        renewed.Status.ShouldBe(200, renewed.Text);
        renewed.Str("status").ShouldBe("active");
        DateTimeOffset.Parse(renewed.Str("expires_at")).ShouldBe(ledger.Clock.GetUtcNow().AddDays(30), TimeSpan.FromSeconds(1));
        (await ledger.Post($"/apps/{appId}/tokens", null, owner)).Status.ShouldBe(200);
    }

    [Fact]
    public async Task Renewing_an_app_todays_policies_send_to_review_is_a_reviewers_decision_and_its_verdicts_are_recorded()
    {
        // Writes to production: a reviewer approved it for its first term.
        var appId = NewAppId("renew-review");
        (await ledger.Register(ReviewManifest(appId).With("expires_in_days", 7))).Str("status").ShouldBe("pending_review");
        (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"writes interactions only"}""",
            await ledger.PersonToken(Reviewer, "security-reviewer"))).Status.ShouldBe(200);
        ledger.Clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        await Expire(appId);
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Get($"/apps/{appId}", owner)).Str("status").ShouldBe("expired");

        // The owner cannot bring it back alone: today's policies still ask a reviewer. The refusal is recorded.
        var refused = await ledger.Post($"/apps/{appId}/renew", """{"days": 30, "reason": "still needed"}""", owner);
        refused.Status.ShouldBe(403, refused.Text);
        refused.Str("errors.0.rule").ShouldBe("renewal-needs-review");
        (await ledger.StreamOf(GovernanceLedger.Apps.GovernanceStreams.For(appId, ledger.Clock.GetUtcNow()))).Select(e => e.Data)
            .OfType<GovernanceActionRefused>().ShouldContain(r => r.Action == "renew" && r.Rule == "renewal-needs-review");
        (await ledger.Get($"/apps/{appId}", owner)).Str("status").ShouldBe("expired");

        // A reviewer renews it; the verdicts of the new term are on its stream with the renewal.
        var renewed = await ledger.Post($"/apps/{appId}/renew", """{"days": 30, "reason": "reviewed again for the quarter"}""",
            await ledger.PersonToken(SecondReviewer, "security-reviewer"));
        renewed.Status.ShouldBe(200, renewed.Text);
        renewed.Str("status").ShouldBe("active");
        var stream = (await ledger.StreamOf(appId)).Select(e => e.Data).ToList();
        var renewal = stream.FindIndex(e => e is AppRenewed);
        stream.Take(renewal).Reverse().TakeWhile(e => e is PolicyChecked).OfType<PolicyChecked>()
            .ShouldContain(p => p.PolicyId == "production-writes-need-review" && p.Outcome == "review");
    }

    [Fact]
    public async Task A_stale_expiry_message_after_a_renewal_does_nothing()
    {
        var appId = NewAppId("stale");
        await ledger.Register(ExampleManifest(appId).With("expires_in_days", 2));
        var owner = await ledger.PersonToken(Owner, "app-owner");
        ledger.Clock.Advance(TimeSpan.FromDays(1));
        (await ledger.Post($"/apps/{appId}/renew", """{"reason":"still needed"}""", owner)).Status.ShouldBe(200);
        ledger.Clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromHours(1));
        await Expire(appId);
        (await ledger.Get($"/apps/{appId}", owner)).Str("status").ShouldBe("active");
    }

    [Fact]
    public async Task Pause_and_resume_carry_a_reason_and_a_security_pause_needs_a_reviewer_to_lift()
    {
        var appId = await ledger.ActiveApp("pause");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var security = await ledger.PersonToken(Reviewer, "security-reviewer");

        (await ledger.Post($"/apps/{appId}/pause", "{}", security)).Status.ShouldBe(400);
        var paused = await ledger.Post($"/apps/{appId}/pause", Reason("error rate above 2%"), security);
        paused.Str("status").ShouldBe("paused");

        var ownerResume = await ledger.Post($"/apps/{appId}/resume", Reason("I fixed it"), owner);
        ownerResume.Status.ShouldBe(403);
        ownerResume.Node("errors.0.rule")!.GetValue<string>().ShouldBe("security-pause");

        (await ledger.Post($"/apps/{appId}/resume", Reason("fix verified"), security)).Str("status").ShouldBe("active");
        var events = (await ledger.StreamOf(appId)).Select(e => e.Data).ToList();
        events.OfType<AppPaused>().Single().Reason.ShouldBe("error rate above 2%");
        events.OfType<AppResumed>().Single().Actor.ShouldBe($"person:{Reviewer}");
    }

    [Fact]
    public async Task Retiring_revokes_live_tokens_and_grants_and_records_retention()
    {
        var appId = await ledger.ActiveApp("retire");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var tokenId = (await ledger.Post($"/apps/{appId}/tokens", null, owner)).Str("token_id");

        var retired = await ledger.Post($"/apps/{appId}/retire", Reason("quarter closed"), owner);
        retired.Str("status").ShouldBe("retired");

        var events = (await ledger.StreamOf(appId)).Select(e => e.Data).ToList();
        events.OfType<TokensRevoked>().Single().TokenIds.ShouldBe([tokenId]);
        events.OfType<AccessRevoked>().Single().Scopes.ShouldBe(["read:contacts", "read:sales_metrics"]);
        var retirement = events.OfType<AppRetired>().Single();
        retirement.DataRetentionDays.ShouldBe(30);
        retirement.RetainUntil!.Value.ShouldBe(ledger.Clock.GetUtcNow().AddDays(30), TimeSpan.FromSeconds(1));

        (await ledger.Post($"/apps/{appId}/retire", Reason("again"), owner)).Status.ShouldBe(409);
        (await ledger.Post($"/apps/{appId}/resume", Reason("please"), await ledger.PersonToken(Admin, "platform-admin"))).Status.ShouldBe(409);
        (await ledger.Post($"/apps/{appId}/renew", """{"reason":"try again"}""", owner)).Status.ShouldBe(409);
    }

    [Fact]
    public async Task Lifecycle_commands_on_an_unknown_app_are_404()
    {
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post("/apps/no-such-app/pause", Reason("x"), owner)).Status.ShouldBe(404);
        (await ledger.Get("/apps/no-such-app", owner)).Status.ShouldBe(404);
    }

    [Fact]
    public async Task The_catalog_lists_by_status_and_owners_see_only_their_own_apps()
    {
        var mine = await ledger.ActiveApp("mine");
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var theirs = NewAppId("theirs");
        (await ledger.Register(ExampleManifest(theirs).With("owner", "someone.else@example.com"), admin)).Status.ShouldBe(201);

        var owner = await ledger.PersonToken(Owner, "app-owner");
        var listed = await ledger.Get("/apps?status=active", owner);
        var ids = listed.Json!.AsArray().Select(a => a!["id"]!.GetValue<string>()).ToList();
        ids.ShouldContain(mine);
        ids.ShouldNotContain(theirs);
        (await ledger.Get($"/apps/{theirs}", owner)).Status.ShouldBe(404);   // answered like an app that does not exist
        (await ledger.Get($"/apps/{theirs}/events", owner)).Status.ShouldBe(404);
        (await ledger.Get("/apps?owner=someone.else@example.com", owner)).Status.ShouldBe(403);

        var auditor = await ledger.PersonToken("auditor@example.com", "auditor");
        var all = (await ledger.Get("/apps?owner=someone.else@example.com", auditor)).Json!.AsArray();
        all.Select(a => a!["id"]!.GetValue<string>()).ShouldContain(theirs);
        (await ledger.Get("/apps?status=bogus", auditor)).Status.ShouldBe(400);
    }

    [Fact]
    public async Task A_pause_at_a_stale_version_is_a_recorded_409_a_stranger_gets_404_whatever_the_version_and_the_current_version_pauses()
    {
        var appId = await ledger.ActiveApp("stalepause");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var version = (await ledger.Get($"/apps/{appId}", owner)).Node("version")!.GetValue<long>();

        await ledger.Host.Scenario(s =>
        {
            s.WithRequestHeader("Authorization", $"Bearer {owner}");
            s.Post.Json(new { reason = "holiday", expected_version = version - 1 }).ToUrl($"/apps/{appId}/pause");
            s.StatusCodeShouldBe(409);
            s.ContentTypeShouldBe("application/problem+json");
        });
        // Existence is never revealed by the version check: a stranger is answered as for an app that is not there.
        var stranger = await ledger.PersonToken("stranger@example.com", "app-owner");
        await ledger.Host.Scenario(s =>
        {
            s.WithRequestHeader("Authorization", $"Bearer {stranger}");
            s.Post.Json(new { reason = "mischief", expected_version = version - 1 }).ToUrl($"/apps/{appId}/pause");
            s.StatusCodeShouldBe(404);
        });
        var paused = await ledger.Host.Scenario(s =>
        {
            s.WithRequestHeader("Authorization", $"Bearer {owner}");
            s.Post.Json(new { reason = "holiday", expected_version = version }).ToUrl($"/apps/{appId}/pause");
            s.StatusCodeShouldBeOk();
        });
        var body = (await paused.ReadAsJsonAsync<JsonObject>())!;
        body["status"]!.GetValue<string>().ShouldBe("paused");
        body["version"]!.GetValue<long>().ShouldBe(version + 1);
        (await ledger.StreamOf(appId)).Count.ShouldBe((int)version + 1);

        var refusals = (await ledger.StreamOf(GovernanceLedger.Apps.GovernanceStreams.For(appId, ledger.Clock.GetUtcNow())))
            .Select(e => e.Data).OfType<GovernanceActionRefused>().ToList();
        refusals.ShouldContain(r => r.Action == "pause" && r.Rule == "stale-version");
        refusals.ShouldContain(r => r.Action == "pause" && r.Rule == "not-visible" && r.Actor.Contains("stranger@example.com"));
    }
}
