using System.Security.Claims;
using GovernanceLedger.Apps.Expiring;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine;
using Wolverine.Http;

namespace GovernanceLedger.Apps.Renewing;

/// <summary>Extend an approval; days defaults to the manifest's expires_in_days.</summary>
public sealed record RenewRequest(int? Days, string? Reason, long? ExpectedVersion);

public static class Renew
{
    public static Decision Decide(App app, Caller caller, RenewRequest request, DateTimeOffset now)
    {
        if (request.Days is < 1 or > 365)
            return Problem.Invalid("days", "range", "days must be between 1 and 365.");
        if (!Reasons.IsMeaningful(request.Reason)) return Reasons.Missing("renewal");
        if (!caller.IsAdmin && !caller.Owns(app.Owner))
            return Problem.Forbidden("owner-or-admin", "Only the owner or a platform admin may renew this app.");
        if (app.Status is not (AppStatus.Active or AppStatus.Paused or AppStatus.Expired))
            return Problem.Conflict("not-renewable", $"Only an approved app can be renewed; this one is {app.Status}.");

        var previous = app.ExpiresAt ?? now;
        var expiresAt = now.AddDays(request.Days ?? app.ExpiresInDays);
        return Decision.Accept(new AppRenewed(app.Id, previous, expiresAt, caller.Actor, now, request.Reason));
    }

    [WolverinePost("/apps/{appId}/renew", OperationId = "renewApp"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Lifecycle")]
    public static async Task<IResult> Post(
        string appId, RenewRequest? request, ClaimsPrincipal user, IDocumentSession session, IMessageBus bus,
        TimeProvider clock, CancellationToken ct)
    {
        request ??= new RenewRequest(null, null, null);
        var now = clock.GetUtcNow();
        var caller = Caller.From(user);
        var (_, after, version, _, problem) = await AppStream.DecideAsync(
            session, appId, request.ExpectedVersion, "renew", caller, now, app => Decide(app, caller, request, now), ct);
        if (problem is not null) return problem.ToResult();

        await bus.ScheduleAsync(new ExpireApp(appId), after!.ExpiresAt!.Value);
        return Results.Ok(new AppStateResponse(after.Id, after.Status, version, after.ExpiresAt, after.Approvers, after.RequiredApprovals));
    }
}
