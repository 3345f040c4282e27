using System.Security.Claims;
using GovernanceLedger.Apps.Expiring;
using GovernanceLedger.Contracts.Apps;
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
    public static async Task<(IResult, Events, OutgoingMessages)> Post(
        RenewRequest? request, [WriteAggregate("appId", Required = false)] IEventStream<App> app, ClaimsPrincipal user,
        IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        request ??= new RenewRequest(null, null, null);
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        var outcome = await AppStream.DecideAsync(app, request.ExpectedVersion, "renew", caller, now, a => Decide(a, caller, request, now), store, ct);
        // The expiry is scheduled in the same transaction as the renewal (Wolverine's outbox): both land or neither.
        var messages = new OutgoingMessages();
        if (outcome.After?.ExpiresAt is { } expiresAt && outcome.Problem is null)
            messages.Schedule(new ExpireApp(outcome.After.Id), expiresAt);
        return (outcome.Response, outcome.Events, messages);
    }
}
