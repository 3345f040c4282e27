using System.Text.Json.Nodes;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

[Collection(LedgerCollection.Name)]
public sealed class Approving_tests(LedgerFixture ledger)
{
    private static string Decision(string decision, string reason, long? expectedVersion = null)
    {
        var body = new JsonObject { ["decision"] = decision, ["reason"] = reason };
        if (expectedVersion is { } v) body["expected_version"] = v;
        return body.ToJsonString();
    }

    [Fact]
    public async Task A_broad_request_needs_two_distinct_reviewers_and_one_person_counts_once()
    {
        var appId = NewAppId("two");
        (await ledger.Register(BroadManifest(appId))).Str("status").ShouldBe("pending_review");
        var first = await ledger.PersonToken(Reviewer, "security-reviewer");
        var second = await ledger.PersonToken(SecondReviewer, "security-reviewer");

        var one = await ledger.Post($"/apps/{appId}/approvals", Decision("approve", "scopes match the ticket"), first);
        one.Status.ShouldBe(200, one.Text);
        one.Str("status").ShouldBe("pending_review");

        var again = await ledger.Post($"/apps/{appId}/approvals", Decision("approve", "still fine"), first);
        again.Status.ShouldBe(409);
        again.Node("errors.0.rule")!.GetValue<string>().ShouldBe("one-person-counts-once");

        var two = await ledger.Post($"/apps/{appId}/approvals", Decision("approve", "PII use justified"), second);
        two.Status.ShouldBe(200, two.Text);
        two.Str("status").ShouldBe("active");

        var app = await ledger.Get($"/apps/{appId}", first);
        app.Node("approvals")!.AsArray().Select(a => a!["reviewer"]!.GetValue<string>())
            .ShouldBe([$"person:{Reviewer}", $"person:{SecondReviewer}"]);
        app.Node("expires_at").ShouldNotBeNull();
    }

    [Fact]
    public async Task An_owner_cannot_approve_their_own_app_even_as_a_reviewer()
    {
        var appId = NewAppId("self");
        await ledger.Register(ReviewManifest(appId));
        var ownerWhoReviews = await ledger.PersonToken(Owner, "app-owner", "security-reviewer");
        var refused = await ledger.Post($"/apps/{appId}/approvals", Decision("approve", "looks good to me"), ownerWhoReviews);
        refused.Status.ShouldBe(403);
        refused.Node("errors.0.rule")!.GetValue<string>().ShouldBe("no-self-approval");
        (await ledger.Get($"/apps/{appId}", ownerWhoReviews)).Str("status").ShouldBe("pending_review");
    }

    [Fact]
    public async Task A_person_without_a_reviewer_role_is_refused()
    {
        var appId = NewAppId("norole");
        await ledger.Register(ReviewManifest(appId));
        var colleague = await ledger.PersonToken("colleague@example.com", "app-owner");
        (await ledger.Post($"/apps/{appId}/approvals", Decision("approve", "sure"), colleague)).Status.ShouldBe(404);   // they may not even see it
        var auditor = await ledger.PersonToken("auditor@example.com", "auditor");
        (await ledger.Post($"/apps/{appId}/approvals", Decision("approve", "sure"), auditor)).Status.ShouldBe(403);
    }

    [Fact]
    public async Task Two_reviewers_deciding_on_the_same_version_one_wins_the_other_gets_409()
    {
        var appId = NewAppId("race");
        await ledger.Register(BroadManifest(appId));
        var version = (await ledger.Get($"/apps/{appId}", await ledger.PersonToken(Reviewer, "security-reviewer"))).Node("version")!.GetValue<long>();
        var first = await ledger.PersonToken(Reviewer, "security-reviewer");
        var second = await ledger.PersonToken(SecondReviewer, "security-reviewer");

        var results = await Task.WhenAll(
            ledger.Post($"/apps/{appId}/approvals", Decision("approve", "ok", version), first),
            ledger.Post($"/apps/{appId}/approvals", Decision("reject", "no", version), second));

        results.Select(r => r.Status).Order().ShouldBe([200, 409]);
        var stream = await ledger.StreamOf(appId);
        stream.Count.ShouldBe((int)version + 1);
    }

    [Fact]
    public async Task Truly_concurrent_decisions_without_expected_version_never_both_land()
    {
        var appId = NewAppId("race2");
        await ledger.Register(BroadManifest(appId));
        var reviewers = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => ledger.PersonToken($"r{i}@example.com", "security-reviewer")));
        var before = (await ledger.StreamOf(appId)).Count;

        var results = await Task.WhenAll(reviewers.Select(t => ledger.Post($"/apps/{appId}/approvals", Decision("reject", "no"), t)));

        results.Count(r => r.Status == 200).ShouldBe(1, string.Join("\n", results.Select(r => r.ToString())));
        results.Where(r => r.Status != 200).ShouldAllBe(r => r.Status == 409);
        (await ledger.StreamOf(appId)).Count.ShouldBe(before + 1);
    }

    [Fact]
    public async Task A_rejection_records_the_reviewer_and_reason()
    {
        var appId = NewAppId("rej");
        await ledger.Register(ReviewManifest(appId));
        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");
        var bad = await ledger.Post($"/apps/{appId}/approvals", """{"decision":"reject"}""", reviewer);
        bad.Status.ShouldBe(400);
        bad.Node("errors.0.field")!.GetValue<string>().ShouldBe("reason");

        var rejected = await ledger.Post($"/apps/{appId}/approvals", Decision("reject", "writes to production are not justified"), reviewer);
        rejected.Str("status").ShouldBe("rejected");
        var app = await ledger.Get($"/apps/{appId}", reviewer);
        app.Str("status_reason").ShouldBe("writes to production are not justified");
        (await ledger.Post($"/apps/{appId}/approvals", Decision("approve", "changed my mind"), reviewer)).Status.ShouldBe(409);
    }
}
