using System.Security.Claims;
using GovernanceLedger.Apps.Expiring;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.Policies;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine;

namespace GovernanceLedger.Apps.Renewing;

/// <summary>Extend an approval; days defaults to the manifest's expires_in_days.</summary>
public sealed record RenewRequest(int? Days, string? Reason, long? ExpectedVersion);

/// <summary>
/// A renewal is a new approval for a new term, so it is judged as one: today's registration policies (and today's advisories)
/// judge the manifest the app stands on. A policy that now refuses it refuses the renewal; one that now asks a reviewer
/// leaves the renewal to a reviewer who does not own the app (never an agent); otherwise the owner or a platform admin
/// renews. Each verdict is recorded with the renewal, so the timeline says under which policy versions the term began.
/// </summary>
public static class Renew
{
    public static Decision Decide(App app, Caller caller, RenewRequest request, DateTimeOffset now) => Decide(app, caller, request, [], now);

    public static Decision Decide(App app, Caller caller, RenewRequest request, IReadOnlyList<PolicyVerdict> verdicts, DateTimeOffset now)
    {
        if (request.Days is < 1 or > 365)
            return Problem.Invalid("days", "range", "days must be between 1 and 365.");
        if (!Reasons.IsMeaningful(request.Reason)) return Reasons.Missing("renewal");
        if (app.Status is not (AppStatus.Active or AppStatus.Paused or AppStatus.Expired))
            return Problem.Conflict("not-renewable", $"Only an approved app can be renewed; this one is {app.Status}.");
        var refusing = verdicts.Where(v => v.Outcome == PolicyOutcomes.Deny).ToList();
        if (refusing.Count > 0)
            return Problem.Conflict("renewal-refused-by-policy",
                $"Today's policies refuse {app.Id} as it stands ({string.Join(", ", refusing.Select(v => $"{v.PolicyId} v{v.Version}"))}): " +
                "register a changed app; its current term runs to its end.");
        var reviewing = verdicts.Where(v => v.Outcome is PolicyOutcomes.Review or PolicyOutcomes.TwoApprovers).ToList();
        if (reviewing.Count > 0)
        {
            if (!caller.IsReviewer || caller.IsAgent || app.IsOwnedBy(caller))
                return Problem.Forbidden("renewal-needs-review",
                    $"Today's policies ask a reviewer for {app.Id} ({string.Join(", ", reviewing.Select(v => $"{v.PolicyId} v{v.Version}"))}): " +
                    "a security reviewer who does not own it renews it.");
        }
        else if (!caller.IsAdmin && !caller.Owns(app.Owner))
            return Problem.Forbidden("owner-or-admin", "Only the owner or a platform admin may renew this app.");

        var previous = app.ExpiresAt ?? now;
        var expiresAt = now.AddDays(request.Days ?? app.ExpiresInDays);
        var events = verdicts.Select(v => (object)new PolicyChecked(app.Id, v.PolicyId, v.Version, v.ContentHash, v.Outcome, v.Reason, v.Findings, "ledger", now))
            .ToList();
        events.Add(new AppRenewed(app.Id, previous, expiresAt, caller.Actor, now, request.Reason));
        return Decision.Accept(events);
    }

    [WolverinePost("/apps/{appId}/renew", OperationId = "renewApp"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Lifecycle")]
    public static async Task<(IResult, Events, OutgoingMessages)> Post(
        RenewRequest? request, [WriteAggregate("appId", Required = false)] IEventStream<App> app, ClaimsPrincipal user,
        IDocumentStore store, IDocumentSession session, Registering.Registrar registrar, TimeProvider clock, CancellationToken ct)
    {
        request ??= new RenewRequest(null, null, null);
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        // Today's policies judge the manifest the app stands on: the last one registered or resubmitted for it.
        IReadOnlyList<PolicyVerdict> verdicts = [];
        if (app.Aggregate is not null && caller.MaySee(app.Aggregate.Owner)
            && (await session.Events.FetchStreamAsync(app.Key!, token: ct)).Select(e => e.Data switch
                {
                    AppRegistered r => r.Manifest,
                    ManifestResubmitted m => m.Manifest,
                    _ => null
                }).LastOrDefault(m => m is not null) is { } manifest)
            verdicts = (await registrar.JudgeAsync(manifest, caller, session, ct)).Verdicts;
        var outcome = await AppStream.DecideAsync(app, request.ExpectedVersion, "renew", caller, now, a => Decide(a, caller, request, verdicts, now), store, ct);
        // The expiry is scheduled in the same transaction as the renewal (Wolverine's outbox): both land or neither.
        var messages = new OutgoingMessages();
        if (outcome.After?.ExpiresAt is { } expiresAt && outcome.Problem is null)
            messages.Schedule(new ExpireApp(outcome.After.Id), expiresAt);
        return (outcome.Response, outcome.Events, messages);
    }
}
