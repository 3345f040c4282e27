using System.Security.Claims;
using GovernanceLedger.Apps;
using GovernanceLedger.Apps.Pausing;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Marten;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>A throttle's time ran out (scheduled for its end when it was set).</summary>
public sealed record ThrottleExpired(string AppId, DateTimeOffset Until);

/// <summary>POST /apps/{appId}/throttle/lift (security reviewers): ends a throttle early, with a reason; its end by time is recorded too.</summary>
public static class LiftThrottle
{
    public static Decision Decide(App app, Caller reviewer, LifecycleRequest request, DateTimeOffset now)
    {
        if (!Reasons.IsMeaningful(request.Reason)) return Reasons.Missing("throttle lift");
        if (app.IsOwnedBy(reviewer)) return Problem.Forbidden("no-self-lift", "Nobody lifts a throttle on their own app; another reviewer must.");
        if (app.ThrottledUntil is not { } until || now >= until) return Problem.Conflict("not-throttled", "The app is not throttled.");
        return Decision.Accept(new AppThrottleLifted(app.Id, request.Reason!, reviewer.Actor, now));
    }

    [WolverinePost("/apps/{appId}/throttle/lift", OperationId = "liftThrottle"), Authorize(Policy = PeopleAuthentication.Policies.Reviewer)]
    [Tags("Operations")]
    public static async Task<(IResult, Events)> Post(LifecycleRequest request, [WriteAggregate("appId", Required = false)] IEventStream<App> app,
        ClaimsPrincipal user, IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        var outcome = await AppStream.DecideAsync(app, request.ExpectedVersion, "lift-throttle", caller, now, a => Decide(a, caller, request, now), store, ct);
        return (outcome.Response, outcome.Events);
    }
}

public static class ThrottleExpiredHandler
{
    /// <summary>Only the throttle it was scheduled for: a newer or already lifted one is left alone.</summary>
    public static Decision Decide(App app, ThrottleExpired message, DateTimeOffset now) =>
        app.ThrottledUntil == message.Until && now >= message.Until
            ? Decision.Accept(new AppThrottleLifted(app.Id, "the throttle's time ran out", "ledger", now))
            : Decision.Accept();

    public static async Task<Events> Handle(ThrottleExpired message, [WriteAggregate(Required = false)] IEventStream<App> app,
        IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        if (app.Aggregate is null) return [];
        var now = clock.GetUtcNow();
        return (await AppStream.DecideAsync(app, null, "expire-throttle", Caller.Ledger, now, a => Decide(a, message, now), store, ct)).Events;
    }
}
