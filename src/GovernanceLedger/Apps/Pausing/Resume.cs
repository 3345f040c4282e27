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

public static class Resume
{
    /// <summary>
    /// An owner's pause is lifted by the owner or a reviewer; a security pause (a reviewer's, or the ledger's
    /// own, for example an anomaly throttle) only by a reviewer who does not own the app.
    /// </summary>
    public static Decision Decide(App app, Caller caller, LifecycleRequest request, DateTimeOffset now)
    {
        if (!Reasons.IsMeaningful(request.Reason)) return Reasons.Missing("resume");
        if (app.Status != AppStatus.Paused)
            return Problem.Conflict("not-paused", $"Only a paused app can be resumed; this one is {app.Status}.");
        var owner = app.IsOwnedBy(caller);
        if (app.SecurityPause && (!caller.IsReviewer || owner))
            return Problem.Forbidden("security-pause", "This is a security pause; only a security reviewer who does not own the app may lift it.");
        if (!app.SecurityPause && !owner && !caller.IsReviewer)
            return Problem.Forbidden("owner-or-security", "Only the owner, a security reviewer or a platform admin may resume this app.");
        if (app.IsExpiredAt(now))
            return Problem.Conflict("expired", "The app's approval has expired; renew it instead.");
        return Decision.Accept(new AppResumed(app.Id, request.Reason, caller.Actor, now));
    }

    [WolverinePost("/apps/{appId}/resume", OperationId = "resumeApp"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Lifecycle")]
    public static async Task<(IResult, Events)> Post(LifecycleRequest request, [WriteAggregate("appId", Required = false)] IEventStream<App> app,
        ClaimsPrincipal user, IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        var outcome = await AppStream.DecideAsync(app, request.ExpectedVersion, "resume", caller, now, a => Decide(a, caller, request, now), store, ct);
        return (outcome.Response, outcome.Events);
    }
}
