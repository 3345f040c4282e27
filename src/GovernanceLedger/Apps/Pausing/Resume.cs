using System.Security.Claims;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Apps.Pausing;

public static class Resume
{
    /// <summary>
    /// An owner may resume only a pause they made themselves; a pause by security or the ledger
    /// (for example an anomaly throttle) needs a reviewer to lift it.
    /// </summary>
    public static Decision Decide(App app, Caller caller, LifecycleRequest request, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(request.Reason) || request.Reason.Length > 1000)
            return Problem.Invalid("reason", "required", "A reason (1 to 1000 characters) is required to resume an app.");
        if (app.Status != AppStatus.Paused)
            return Problem.Conflict("not-paused", $"Only a paused app can be resumed; this one is {app.Status}.");
        var ownPause = caller.Owns(app.Owner) && app.PausedBy == caller.Actor;
        if (!caller.IsReviewer && !ownPause)
            return Problem.Forbidden("reviewer-or-own-pause", $"This app was paused by {app.PausedBy}; only a security reviewer or a platform admin may resume it.");
        if (app.IsExpiredAt(now))
            return Problem.Conflict("expired", "The app's approval has expired; renew it instead.");
        return Decision.Accept(new AppResumed(app.Id, request.Reason, caller.Actor, now));
    }

    [WolverinePost("/apps/{appId}/resume", OperationId = "resumeApp"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Lifecycle")]
    public static Task<IResult> Post(string appId, LifecycleRequest request, ClaimsPrincipal user, IDocumentSession session, TimeProvider clock, CancellationToken ct) =>
        AppStream.RespondAsync(session, appId, request.ExpectedVersion, app => Decide(app, Caller.From(user), request, clock.GetUtcNow()), ct);
}
