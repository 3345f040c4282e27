using System.Security.Claims;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Marten;

namespace GovernanceLedger.Apps.Pausing;

/// <summary>Why the app is paused or resumed; expected_version guards against acting on a stale view.</summary>
public sealed record LifecycleRequest(string? Reason, long? ExpectedVersion);

public static class Pause
{
    /// <summary>
    /// An owner pauses their own app; a reviewer who does not own it makes a security pause, which only a
    /// reviewer lifts. A security pause always wins: it turns an owner's pause into a security pause.
    /// </summary>
    public static Decision Decide(App app, Caller caller, LifecycleRequest request, DateTimeOffset now)
    {
        if (!Reasons.IsMeaningful(request.Reason)) return Reasons.Missing("pause");
        var owner = app.IsOwnedBy(caller);
        // Nobody decides on their own app with a reviewer's powers: an owner who is also a reviewer pauses as the owner.
        var security = caller.IsReviewer && !owner;
        if (!security && !owner)
            return Problem.Forbidden("owner-or-security", "Only the owner, a security reviewer or a platform admin may pause this app.");
        if (app.Status == AppStatus.Paused)
            return security && !app.SecurityPause
                ? Decision.Accept(new AppPaused(app.Id, request.Reason, caller.Actor, now, BySecurity: true))
                : Problem.Conflict("already-paused", "The app is already paused.");
        if (app.Status != AppStatus.Active)
            return Problem.Conflict("not-active", $"Only an active app can be paused; this one is {app.Status}.");
        return Decision.Accept(new AppPaused(app.Id, request.Reason, caller.Actor, now, BySecurity: security));
    }

    [WolverinePost("/apps/{appId}/pause", OperationId = "pauseApp"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Lifecycle")]
    public static async Task<(IResult, Events)> Post(LifecycleRequest request, [WriteAggregate("appId", Required = false)] IEventStream<App> app,
        ClaimsPrincipal user, IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        var outcome = await AppStream.DecideAsync(app, request.ExpectedVersion, "pause", caller, now, a => Decide(a, caller, request, now), store, ct);
        return (outcome.Response, outcome.Events);
    }
}
