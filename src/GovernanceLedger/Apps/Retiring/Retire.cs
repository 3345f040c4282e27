using System.Security.Claims;
using GovernanceLedger.Apps.IssuingTokens;
using GovernanceLedger.Apps.Pausing;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace GovernanceLedger.Apps.Retiring;

public static class Retire
{
    /// <summary>Retirement is final: live tokens and grants are revoked and the retention deadline recorded.</summary>
    public static Decision Decide(App app, Caller caller, LifecycleRequest request, IReadOnlyList<string> liveTokens, DateTimeOffset now)
    {
        if (!Reasons.IsMeaningful(request.Reason)) return Reasons.Missing("retirement");
        if (!caller.IsAdmin && !caller.Owns(app.Owner))
            return Problem.Forbidden("owner-or-admin", "Only the owner or a platform admin may retire this app.");
        if (app.Status == AppStatus.Retired)
            return Problem.Conflict("retired", "The app is already retired.");

        var events = new List<object>();
        if (liveTokens.Count > 0)
            events.Add(new TokensRevoked(app.Id, liveTokens, "app retired", caller.Actor, now));
        if (app.Status is AppStatus.Active or AppStatus.Paused or AppStatus.Expired)
            events.Add(new AccessRevoked(app.Id, app.Scopes, "app retired", caller.Actor, now));
        var retainUntil = app.DataRetentionDays is { } days ? now.AddDays(days) : (DateTimeOffset?)null;
        events.Add(new AppRetired(app.Id, request.Reason, app.DataRetentionDays, retainUntil, caller.Actor, now));
        return Decision.Accept(events);
    }

    [WolverinePost("/apps/{appId}/retire", OperationId = "retireApp"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Lifecycle")]
    public static async Task<(IResult, Events, OutgoingMessages)> Post(string appId, LifecycleRequest request, [WriteAggregate("appId", Required = false)] IEventStream<App> app,
        ClaimsPrincipal user, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        var live = await TokenStreams.LiveTokenIdsAsync(session, appId, now, ct);
        var outcome = await AppStream.DecideAsync(app, request.ExpectedVersion, "retire", caller, now, a => Decide(a, caller, request, live, now), session.DocumentStore, ct);
        // The archive is written after the retirement commits, from the same transaction's outbox.
        var messages = new OutgoingMessages();
        if (outcome.Events.OfType<AppRetired>().Any()) messages.Add(new Operations.Archiving.ArchiveApp(appId));
        // The data the app wrote is purged when its retention runs out (a durable scheduled message).
        if (outcome.Events.OfType<AppRetired>().SingleOrDefault()?.RetainUntil is { } retainUntil)
            messages.Schedule(new Operations.Retention.PurgeAppData(appId), retainUntil);
        return (outcome.Response, outcome.Events, messages);
    }
}
