using GovernanceLedger.Apps;
using GovernanceLedger.Apps.Approving;
using GovernanceLedger.Apps.Expiring;
using GovernanceLedger.Apps.IssuingTokens;
using GovernanceLedger.Apps.Pausing;
using GovernanceLedger.Apps.Registering;
using GovernanceLedger.Apps.Renewing;
using GovernanceLedger.Apps.Retiring;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;

namespace GovernanceLedger.Tests.Apps;

/// <summary>The pure decisions, without a host or a database: state and caller in, events or a problem out.</summary>
public sealed class Decide_unit_tests
{
    private static readonly DateTimeOffset Now = new(2030, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private const string OwnerEmail = "owner@example.com";

    private static App Active(string status = AppStatus.Active, bool securityPause = false, DateTimeOffset? expiresAt = null, int required = 1) => new()
    {
        Id = "unit-app", Status = status, Owner = OwnerEmail, Scopes = ["read:contacts"], RequiredApprovals = required,
        ExpiresInDays = 30, ExpiresAt = expiresAt ?? Now.AddDays(10), SecurityPause = securityPause, RegisteredBy = $"person:{OwnerEmail}"
    };

    private static Caller Person(string email, params string[] roles) =>
        new(email, email, roles.ToHashSet(), false, new HashSet<string>());

    private static readonly Caller Owner = Person(OwnerEmail, Role.AppOwner);
    private static readonly Caller Reviewer = Person("reviewer@example.com", Role.SecurityReviewer);
    private static readonly Caller Stranger = Person("someone@example.com", Role.AppOwner);
    private static readonly Caller OwnerWhoReviews = Person(OwnerEmail, Role.AppOwner, Role.SecurityReviewer);
    private static readonly Caller Agent = new("bot-7", "reviewer@example.com", new HashSet<string> { Role.SecurityReviewer }, true, new HashSet<string>());

    private static LifecycleRequest Because(string? reason = "maintenance") => new(reason, null);

    private static T Single<T>(Decision decision)
    {
        decision.Problem.ShouldBeNull();
        return decision.Events.ShouldHaveSingleItem().ShouldBeOfType<T>();
    }

    private static void Refused(Decision decision, int status, string rule)
    {
        decision.Events.ShouldBeEmpty();
        decision.Problem.ShouldNotBeNull();
        decision.Problem!.Status.ShouldBe(status);
        decision.Problem.Errors.ShouldContain(e => e.Rule == rule);
    }

    [Fact]
    public void An_owner_pauses_as_owner_and_a_reviewer_who_does_not_own_the_app_makes_a_security_pause()
    {
        Single<AppPaused>(Pause.Decide(Active(), Owner, Because(), Now)).BySecurity.ShouldBeFalse();
        Single<AppPaused>(Pause.Decide(Active(), Reviewer, Because(), Now)).BySecurity.ShouldBeTrue();
        // Nobody uses a reviewer's powers on their own app.
        Single<AppPaused>(Pause.Decide(Active(), OwnerWhoReviews, Because(), Now)).BySecurity.ShouldBeFalse();
        Refused(Pause.Decide(Active(), Stranger, Because(), Now), 403, "owner-or-security");
    }

    [Fact]
    public void A_security_pause_wins_over_an_owners_pause_and_only_a_reviewer_who_does_not_own_it_lifts_it()
    {
        var ownerPaused = Active() with { Status = AppStatus.Paused, PausedBy = $"person:{OwnerEmail}" };
        Single<AppPaused>(Pause.Decide(ownerPaused, Reviewer, Because("suspicious traffic"), Now)).BySecurity.ShouldBeTrue();
        Refused(Pause.Decide(ownerPaused, Owner, Because(), Now), 409, "already-paused");

        var securityPaused = App.Replay([new AppPaused("unit-app", "suspicious traffic", "person:reviewer@example.com", Now, BySecurity: true)], Active());
        Refused(Resume.Decide(securityPaused, Owner, Because("all good"), Now), 403, "security-pause");
        Refused(Resume.Decide(securityPaused, OwnerWhoReviews, Because("all good"), Now), 403, "security-pause");
        Single<AppResumed>(Resume.Decide(securityPaused, Reviewer, Because("investigated"), Now));
        Single<AppResumed>(Resume.Decide(ownerPaused, Owner, Because("back"), Now));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\u200B\u200B")]
    public void Every_lifecycle_change_needs_a_reason_a_person_can_read(string? reason)
    {
        Refused(Pause.Decide(Active(), Owner, Because(reason), Now), 400, "required");
        Refused(Resume.Decide(Active() with { Status = AppStatus.Paused }, Owner, Because(reason), Now), 400, "required");
        Refused(Approve.Decide(Active(AppStatus.PendingReview), Reviewer, new ApprovalRequest("approve", reason, null), Now), 400, "required");
    }

    [Fact]
    public void Lifecycle_changes_apply_only_to_the_states_they_make_sense_in()
    {
        Refused(Pause.Decide(Active(AppStatus.Retired), Owner, Because(), Now), 409, "not-active");
        Refused(Resume.Decide(Active(), Owner, Because(), Now), 409, "not-paused");
        Refused(Resume.Decide(Active() with { Status = AppStatus.Paused, ExpiresAt = Now.AddDays(-1) }, Owner, Because(), Now), 409, "expired");
        Refused(Approve.Decide(Active(), Reviewer, new ApprovalRequest("approve", "fine", null), Now), 409, "not-pending");
    }

    [Fact]
    public void Approval_needs_a_person_with_the_role_who_does_not_own_the_app_and_counts_each_person_once()
    {
        var pending = Active(AppStatus.PendingReview, required: 2);
        Refused(Approve.Decide(pending, Agent, new ApprovalRequest("approve", "fine", null), Now), 403, "agents-never-approve");
        Refused(Approve.Decide(pending, Stranger, new ApprovalRequest("approve", "fine", null), Now), 403, "reviewer-role");
        Refused(Approve.Decide(pending, OwnerWhoReviews, new ApprovalRequest("approve", "fine", null), Now), 403, "no-self-approval");
        Refused(Approve.Decide(pending, Reviewer, new ApprovalRequest("maybe", "fine", null), Now), 400, "enum");

        var first = Approve.Decide(pending, Reviewer, new ApprovalRequest("approve", "looks fine", null), Now);
        first.Events.ShouldHaveSingleItem().ShouldBeOfType<ApprovalGiven>();
        var once = App.Replay(first.Events, pending);
        // The same person again, under another spelling of the same address, does not make two.
        var again = Person("Reviewer@Example.com", Role.SecurityReviewer);
        Refused(Approve.Decide(once, again, new ApprovalRequest("approve", "still fine", null), Now), 409, "one-person-counts-once");

        var second = Approve.Decide(once, Person("other.reviewer@example.com", Role.SecurityReviewer), new ApprovalRequest("approve", "agreed", null), Now);
        second.Events.Select(e => e.GetType()).ShouldBe([typeof(ApprovalGiven), typeof(AppApproved), typeof(AccessGranted)]);
        second.Events.OfType<AppApproved>().Single().ExpiresAt.ShouldBe(Now.AddDays(30));
    }

    [Fact]
    public void Expiry_happens_once_the_approval_has_run_out_and_never_before()
    {
        ExpireAppHandler.Decide(Active(expiresAt: Now.AddSeconds(1)), Now).Events.ShouldBeEmpty();
        Single<AppExpired>(ExpireAppHandler.Decide(Active(expiresAt: Now), Now)).ExpiresAt.ShouldBe(Now);
        Single<AppExpired>(ExpireAppHandler.Decide(Active(AppStatus.Paused, expiresAt: Now.AddDays(-1)), Now));
        ExpireAppHandler.Decide(Active(AppStatus.Retired, expiresAt: Now.AddDays(-1)), Now).Events.ShouldBeEmpty();
    }

    [Fact]
    public void A_renewal_by_the_owner_or_an_admin_extends_from_now_within_a_year()
    {
        var admin = Person("admin@example.com", Role.PlatformAdmin);
        var renewed = Single<AppRenewed>(Renew.Decide(Active(AppStatus.Expired, expiresAt: Now.AddDays(-3)), Owner, new RenewRequest(null, "still needed", null), Now));
        renewed.ExpiresAt.ShouldBe(Now.AddDays(30));
        renewed.Reason.ShouldBe("still needed");
        Single<AppRenewed>(Renew.Decide(Active(), admin, new RenewRequest(90, "quarter", null), Now)).ExpiresAt.ShouldBe(Now.AddDays(90));
        Refused(Renew.Decide(Active(), Reviewer, new RenewRequest(30, "why not", null), Now), 403, "owner-or-admin");
        Refused(Renew.Decide(Active(), Owner, new RenewRequest(366, "longer", null), Now), 400, "range");
        Refused(Renew.Decide(Active(), Owner, new RenewRequest(0, "none", null), Now), 400, "range");
        Refused(Renew.Decide(Active(), Owner, new RenewRequest(30, " ", null), Now), 400, "required");
        Refused(Renew.Decide(Active(AppStatus.PendingReview), Owner, new RenewRequest(30, "early", null), Now), 409, "not-renewable");
    }

    [Fact]
    public void A_renewal_is_judged_by_todays_policies_a_refusal_refuses_it_and_a_review_leaves_it_to_a_reviewer_who_does_not_own_the_app()
    {
        var expired = Active(AppStatus.Expired, expiresAt: Now.AddDays(-3));
        var request = new RenewRequest(30, "still needed", null);
        GovernanceLedger.Policies.PolicyVerdict Verdict(string id, string outcome) => new(id, 2, "hash", outcome, "because", ["customers.email"]);
        Refused(Renew.Decide(expired, Owner, request, [Verdict("no-pii", PolicyOutcomes.Deny)], Now), 409, "renewal-refused-by-policy");
        var review = new[] { Verdict("pii-needs-security-review", PolicyOutcomes.Review), Verdict("no-pii", PolicyOutcomes.Pass) };
        Refused(Renew.Decide(expired, Owner, request, review, Now), 403, "renewal-needs-review");
        // The owner's own reviewer role does not count, nor does an agent's.
        Refused(Renew.Decide(expired, Person(OwnerEmail, Role.AppOwner, Role.SecurityReviewer), request, review, Now), 403, "renewal-needs-review");
        Refused(Renew.Decide(expired, new Caller("bot@example.com", "bot@example.com", new HashSet<string> { Role.SecurityReviewer }, true, new HashSet<string>()),
            request, review, Now), 403, "renewal-needs-review");
        // A reviewer who does not own it renews it, and the verdicts the new term began under are recorded with it.
        var renewed = Renew.Decide(expired, Reviewer, request, review, Now);
        renewed.Problem.ShouldBeNull();
        renewed.Events.OfType<PolicyChecked>().Select(p => (p.PolicyId, p.Outcome)).ShouldBe([("pii-needs-security-review", PolicyOutcomes.Review), ("no-pii", PolicyOutcomes.Pass)]);
        renewed.Events.OfType<AppRenewed>().Single().ExpiresAt.ShouldBe(Now.AddDays(30));
        // With every policy passing, the owner renews as before.
        Renew.Decide(expired, Owner, request, [Verdict("no-pii", PolicyOutcomes.Pass)], Now).Events.OfType<AppRenewed>().ShouldHaveSingleItem();
    }

    [Fact]
    public void Retirement_revokes_live_tokens_and_access_and_records_how_long_data_is_kept()
    {
        var app = Active() with { DataRetentionDays = 30 };
        var decision = Retire.Decide(app, Owner, Because("replaced"), ["tok-1", "tok-2"], Now);
        decision.Events.Select(e => e.GetType()).ShouldBe([typeof(TokensRevoked), typeof(AccessRevoked), typeof(AppRetired)]);
        decision.Events.OfType<TokensRevoked>().Single().TokenIds.ShouldBe(["tok-1", "tok-2"]);
        decision.Events.OfType<AppRetired>().Single().RetainUntil.ShouldBe(Now.AddDays(30));

        // A pending app never had access: only its retirement is recorded.
        Retire.Decide(Active(AppStatus.PendingReview), Owner, Because("abandoned"), [], Now).Events.ShouldHaveSingleItem().ShouldBeOfType<AppRetired>();
        Refused(Retire.Decide(Active(), Reviewer, Because("tidy up"), [], Now), 403, "owner-or-admin");
        Refused(Retire.Decide(Active(AppStatus.Retired), Owner, Because("again"), [], Now), 409, "retired");
    }

    private static PolicyVerdict Verdict(string id, string outcome) => new(id, 1, "hash", outcome, $"{id} says {outcome}", []);

    private static AppManifest Manifest(string generatedBy = "human") =>
        new() { AppId = "unit-app", Owner = OwnerEmail, Scopes = ["read:contacts"], ExpiresInDays = 30, GeneratedBy = generatedBy };

    [Fact]
    public void Registration_follows_the_strongest_policy_outcome()
    {
        Registration.Decide(Manifest(), Owner, [Verdict("a", PolicyOutcomes.Pass)], Now).Events.Select(e => e.GetType())
            .ShouldBe([typeof(AppRegistered), typeof(PolicyChecked), typeof(AppApproved), typeof(AccessGranted)]);
        Registration.Decide(Manifest(), Owner, [Verdict("a", PolicyOutcomes.Review), Verdict("b", PolicyOutcomes.Pass)], Now)
            .Events.OfType<AppRoutedToReview>().Single().RequiredApprovals.ShouldBe(1);
        Registration.Decide(Manifest(), Owner, [Verdict("a", PolicyOutcomes.Review), Verdict("b", PolicyOutcomes.TwoApprovers)], Now)
            .Events.OfType<AppRoutedToReview>().Single().RequiredApprovals.ShouldBe(2);
        var denied = Registration.Decide(Manifest(), Owner, [Verdict("a", PolicyOutcomes.TwoApprovers), Verdict("b", PolicyOutcomes.Deny)], Now);
        denied.Events.OfType<AppRejected>().ShouldHaveSingleItem();
        denied.Events.OfType<AppApproved>().ShouldBeEmpty();
        // An agent-generated app always goes to a person, whatever the policies say.
        Registration.Decide(Manifest("agent"), Owner, [Verdict("a", PolicyOutcomes.Pass)], Now)
            .Events.OfType<AppRoutedToReview>().Single().RequiredApprovals.ShouldBe(1);
    }

    [Fact]
    public void Registration_is_by_the_owner_and_an_agent_says_it_is_one()
    {
        Refused(Registration.Decide(Manifest(), Stranger, [], Now), 403, "owner-must-be-caller");
        var agentOwner = new Caller(OwnerEmail, OwnerEmail, new HashSet<string> { Role.AppOwner }, true, new HashSet<string>());
        Refused(Registration.Decide(Manifest(), agentOwner, [], Now), 400, "agent-callers");
        Registration.Decide(Manifest("agent"), agentOwner, [], Now).Succeeded.ShouldBeTrue();
    }

    private static readonly EndUser OwnerAsUser = new(OwnerEmail, OwnerEmail, "EMEA", new HashSet<string>());

    [Fact]
    public void A_token_carries_only_granted_scopes_and_only_for_people_the_app_serves_while_it_is_active()
    {
        var app = Active() with { Scopes = ["read:contacts", "read:customers"], Audience = new AppAudience(["colleague@example.com"], ["sales"]) };
        TokenRequest Ask(params string[]? scopes) => new(scopes, null, null);
        var all = Ask(null);   // no scopes named: every granted one
        AppTokenIssued Issue(App a, Caller c, TokenRequest r, EndUser? subject = null) =>
            Single<AppTokenIssued>(IssueToken.Decide(a, c, r, subject, OwnerAsUser, "tok-1", "kid-1", TimeSpan.FromMinutes(15), Now));

        var own = Issue(app, Owner, all);
        own.Scopes.ShouldBe(["read:contacts", "read:customers"]);
        own.EndUser.ShouldBeNull();
        own.ExpiresAt.ShouldBe(Now.AddMinutes(15));
        Issue(app, Owner, all, new EndUser("colleague@example.com", "colleague@example.com", "EMEA", new HashSet<string>())).EndUser.ShouldBe("colleague@example.com");
        Issue(app, Owner, all, new EndUser("someone", null, "NA", new HashSet<string> { "sales" })).EndUser.ShouldBe("someone");

        var widened = IssueToken.Decide(app, Owner, Ask("read:contacts", "write:everything"), null, OwnerAsUser, "t", "k", TimeSpan.FromMinutes(1), Now);
        Refused(widened, 403, "scope-not-granted");
        widened.Problem!.Errors.Single().Field.ShouldBe("scopes[1]");
        Refused(IssueToken.Decide(app, Owner, Ask([]), null, OwnerAsUser, "t", "k", TimeSpan.FromMinutes(1), Now), 400, "minItems");
        Refused(IssueToken.Decide(app, Owner, all, new EndUser("outsider@example.com", "outsider@example.com", null, new HashSet<string>()),
            OwnerAsUser, "t", "k", TimeSpan.FromMinutes(1), Now), 403, "audience");
        Refused(IssueToken.Decide(app, Stranger, all, new EndUser("colleague@example.com", null, null, new HashSet<string>()),
            OwnerAsUser, "t", "k", TimeSpan.FromMinutes(1), Now), 403, "exchange-by-owner");
        Refused(IssueToken.Decide(app with { Status = AppStatus.Paused }, Owner, all, null, OwnerAsUser, "t", "k", TimeSpan.FromMinutes(1), Now), 403, "app-not-active");
        Refused(IssueToken.Decide(app with { ExpiresAt = Now }, Owner, all, null, OwnerAsUser, "t", "k", TimeSpan.FromMinutes(1), Now), 403, "app-not-active");
    }
}
