using System.Security.Claims;
using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Streaming;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Marten;

namespace GovernanceLedger.Streaming.Topics;

/// <summary>
/// DELETE /topics/{topic}/grants/{appId}?reason=[&amp;access=write] (security reviewers): ends the app's read grant on the
/// topic, or its write grant, in the app's own stream.
/// </summary>
public static class RevokeTopic
{
    public static Decision Decide(App app, Caller reviewer, string topic, string access, string reason, TopicGrant? grant, DateTimeOffset now) =>
        grant is not { Active: true } ? Problem.NotFound($"App '{app.Id}' holds no {access} grant on topic '{topic}'.")
        : Decision.Accept(new TopicAccessRevoked(app.Id, topic, reason, reviewer.Actor, now, access == TopicAccess.Read ? null : access));

    [WolverineDelete("/topics/{topic}/grants/{appId}", OperationId = "revokeTopic"), Authorize(Policy = PeopleAuthentication.Policies.Reviewer)]
    [Tags("Streaming")]
    public static async Task<(IResult, Events)> Delete(
        string topic, string appId, string? reason, string? access, [WriteAggregate("appId", Required = false)] IEventStream<App> app,
        ClaimsPrincipal user, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        if (!Reasons.IsMeaningful(reason))
            return (Problem.Invalid("reason", "required", "reason is required (query string): something a person can read.").ToResult(), []);
        if (access is not null && !TopicAccess.All.Contains(access))
            return (Problem.Invalid("access", "one-of", $"access is {string.Join(" or ", TopicAccess.All)} (read when left out).").ToResult(), []);
        var (caller, now, kind) = (Caller.From(user), clock.GetUtcNow(), TopicAccess.Of(access));
        var grant = await session.LoadAsync<TopicGrant>(TopicGrant.IdFor(appId, topic, kind), ct);
        var outcome = await AppStream.DecideAsync(app, null, "revoke-topic", caller, now,
            a => Decide(a, caller, topic, kind, reason!, grant, now), session.DocumentStore, ct);
        return (outcome.Problem?.ToResult() ?? Results.Json(outcome.Events.Single(), LedgerSetup.ApiJson), outcome.Events);
    }
}
