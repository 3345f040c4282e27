using System.Security.Claims;
using GovernanceLedger.Apps.Expiring;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.SupplyChain;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine;

namespace GovernanceLedger.Apps.Approving;

/// <summary>A reviewer's decision. expected_version, when sent, must match the app's stream version.</summary>
public sealed record ApprovalRequest(string? Decision, string? Reason, long? ExpectedVersion);

public static class Approve
{
    /// <remarks>
    /// <c>critical</c>: the critical vulnerabilities of the app's packages under the advisory snapshot in force now. An
    /// advisory imported after the app was registered still stops its approval (a rejection stays possible).
    /// </remarks>
    public static Decision Decide(App app, Caller reviewer, ApprovalRequest request, DateTimeOffset now, IReadOnlyList<Vulnerability>? critical = null)
    {
        if (request.Decision is not ("approve" or "reject"))
            return Problem.Invalid("decision", "enum", "decision must be 'approve' or 'reject'.");
        if (!Reasons.IsMeaningful(request.Reason)) return Reasons.Missing("review decision");
        if (reviewer.IsAgent)
            return Problem.Forbidden("agents-never-approve", "An agent cannot decide on an app; a person must.");
        // A name that cannot be compared (spaces, invisible or non-ASCII characters) cannot be counted once.
        if (!reviewer.Governs)
            return Problem.Forbidden("comparable-identity", "Your token's subject or e-mail is not a plain address, so your decision cannot be counted.");
        if (!reviewer.IsReviewer)
            return Problem.Forbidden("reviewer-role", "Only a security reviewer or a platform admin may decide on an app.");
        if (app.IsOwnedBy(reviewer))
            return Problem.Forbidden("no-self-approval", "An owner cannot review their own app.");
        if (app.Status != AppStatus.PendingReview)
            return Problem.Conflict("not-pending", $"The app is {app.Status}, not pending review.");
        // One human counts once, whatever their token says they act as.
        if (reviewer.Names.Any(app.ApproverNames.Contains))
            return Problem.Conflict("one-person-counts-once",
                "You have already approved this app; the next approval must come from a different reviewer.");

        if (request.Decision == "reject")
            return Decision.Accept(new AppRejected(app.Id, request.Reason, null, null, reviewer.Actor, now));
        if (critical is { Count: > 0 })
            return Problem.Conflict("supply-chain-critical",
                $"The app uses packages with known critical vulnerabilities: {string.Join("; ", critical.Select(v => $"{v.AdvisoryId} in {v.Package}@{v.Version}" + (v.FixedIn is null ? "" : $" (fixed in {v.FixedIn})")))}. " +
                "The owner upgrades them and resubmits the manifest; it cannot be approved as it is.");

        var given = new ApprovalGiven(app.Id, reviewer.Person, request.Reason, now, reviewer.Names);
        var approvers = app.Approvers.Append(reviewer.Person).ToList();
        if (approvers.Count < app.RequiredApprovals)
            return Decision.Accept(given);

        var expiresAt = now.AddDays(app.ExpiresInDays);
        return Decision.Accept(
            given,
            new AppApproved(app.Id, approvers, request.Reason, expiresAt, reviewer.Person, now),
            new AccessGranted(app.Id, app.Scopes, app.Datasets, reviewer.Person, now));
    }


    [WolverinePost("/apps/{appId}/approvals", OperationId = "decideOnApp"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Apps")]
    public static async Task<(IResult, Events, OutgoingMessages)> Post(
        ApprovalRequest request, [WriteAggregate("appId", Required = false)] IEventStream<App> app, ClaimsPrincipal user,
        IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        IReadOnlyList<Vulnerability> critical = [];
        if (app.Aggregate?.Dependencies is { } dependencies)
        {
            await using var session = store.QuerySession();
            var advisories = await session.LoadAsync<Projections.SupplyChain.AdvisoryDatabase>(Projections.SupplyChain.AdvisoryDatabase.StreamId, ct);
            critical = SupplyChain.AdvisoryMatcher.Match(dependencies, advisories?.Advisories ?? []).Where(v => v.Severity == Severities.Critical).ToList();
        }
        var outcome = await AppStream.DecideAsync(app, request.ExpectedVersion, "decide", caller, now, a => Decide(a, caller, request, now, critical), store, ct);
        // The expiry is scheduled in the same transaction as the approval (Wolverine's outbox): both land or neither.
        var messages = new OutgoingMessages();
        if (outcome.After is { Status: AppStatus.Active, ExpiresAt: { } expiresAt } approved && outcome.Events.Count > 0)
            messages.Schedule(new ExpireApp(approved.Id), expiresAt);
        return (outcome.Response, outcome.Events, messages);
    }
}
