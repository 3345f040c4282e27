using System.Security.Claims;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Apps.Pausing;

/// <summary>Why the app is paused or resumed; expected_version guards against acting on a stale view.</summary>
public sealed record LifecycleRequest(string? Reason, long? ExpectedVersion);

public static class Pause
{
    public static Decision Decide(App app, Caller caller, LifecycleRequest request, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(request.Reason) || request.Reason.Length > 1000)
            return Problem.Invalid("reason", "required", "A reason (1 to 1000 characters) is required to pause an app.");
        if (!caller.IsReviewer && !caller.Owns(app.Owner))
            return Problem.Forbidden("owner-or-security", "Only the owner, a security reviewer or a platform admin may pause this app.");
        if (app.Status != AppStatus.Active)
            return Problem.Conflict("not-active", $"Only an active app can be paused; this one is {app.Status}.");
        return Decision.Accept(new AppPaused(app.Id, request.Reason, caller.Actor, now));
    }

    [WolverinePost("/apps/{appId}/pause", OperationId = "pauseApp"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Lifecycle")]
    public static Task<IResult> Post(string appId, LifecycleRequest request, ClaimsPrincipal user, IDocumentSession session, TimeProvider clock, CancellationToken ct) =>
        AppStream.RespondAsync(session, appId, request.ExpectedVersion, app => Decide(app, Caller.From(user), request, clock.GetUtcNow()), ct);
}
