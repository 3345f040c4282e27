using System.Security.Claims;
using System.Text.Json.Serialization;
using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Streaming;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Streaming.Topics;

public sealed record TopicGrantRequest(
    [property: JsonPropertyName("app_id")] string? AppId,
    [property: JsonPropertyName("reason")] string? Reason,
    [property: JsonPropertyName("access")] string? Access = null);

/// <summary>
/// POST /topics/{topic}/grants (security reviewers): the read:topic:&lt;name&gt; grant, or with "access": "write" the
/// write:topic:&lt;name&gt; grant that lets the app produce through POST /topics/{topic}/records. It is an event in the
/// app's own stream, so its timeline shows it and its version moves with it. A read grant names the consumer group
/// derived from the app id, the only group the app may read with. A topic a CDC connector feeds takes no write
/// grant: its records come from the source database alone.
/// </summary>
public static class GrantTopic
{
    public static string ConsumerGroupOf(string appId) => $"app.{appId}";
    public static string ScopeOf(string topic, string? access = null) => $"{TopicAccess.Of(access)}:topic:{topic}";

    public static Decision Decide(App app, Caller reviewer, string topic, string access, string reason, bool provisioned, string? feedingConnector,
        DateTimeOffset now) =>
        app.IsOwnedBy(reviewer) ? Problem.Forbidden("no-self-grant", "Nobody grants topic access to their own app; another reviewer must.")
        : app.Status != AppStatus.Active ? Problem.Conflict("app-active", $"App '{app.Id}' is {app.Status}; only active apps get topic grants.")
        : !provisioned ? Problem.NotFound($"Topic '{topic}' has not been provisioned.")
        : access == TopicAccess.Write && feedingConnector is not null
            ? Problem.Conflict("cdc-owned-topic", $"Topic '{topic}' is fed by CDC connector '{feedingConnector}'; no app writes to it.")
        : Decision.Accept(new TopicAccessGranted(app.Id, topic, access == TopicAccess.Read ? ConsumerGroupOf(app.Id) : "", reason, reviewer.Actor, now,
            access == TopicAccess.Read ? null : access));

    [WolverinePost("/topics/{topic}/grants", OperationId = "grantTopic"), Authorize(Policy = PeopleAuthentication.Policies.Reviewer)]
    [Tags("Streaming")]
    public static async Task<IResult> Post(
        string topic, TopicGrantRequest request, ClaimsPrincipal user, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        var errors = new List<Violation>();
        if (request.AppId is not { Length: > 0 }) errors.Add(new("app_id", "required", "app_id is required."));
        if (!Reasons.IsMeaningful(request.Reason)) errors.Add(new("reason", "required", "reason is required: something a person can read."));
        if (request.Access is not null && !TopicAccess.All.Contains(request.Access))
            errors.Add(new("access", "one-of", $"access is {string.Join(" or ", TopicAccess.All)} (read when left out)."));
        if (errors.Count > 0) return Problem.Invalid("The grant is invalid.", [.. errors]).ToResult();

        // The app is named in the body, which is checked first, so its stream is fetched here rather than by
        // [WriteAggregate]: the same fetch for writing, and Wolverine's transaction commits what is appended.
        var app = await session.Events.FetchForWriting<App>(request.AppId!, ct);
        var (caller, now, access) = (Caller.From(user), clock.GetUtcNow(), TopicAccess.Of(request.Access));
        var provisioned = await TopicRequests.IsProvisionedAsync(session, topic, ct);
        var feeding = access == TopicAccess.Write ? await Cdc.CdcConnectors.FeedingAsync(session, topic, ct) : null;
        var outcome = await AppStream.DecideAsync(app, null, "grant-topic", caller, now,
            a => Decide(a, caller, topic, access, request.Reason!, provisioned, feeding, now), session.DocumentStore, ct);
        if (outcome.Problem is { } refused) return refused.ToResult();
        app.AppendMany(outcome.Events);
        return Results.Json(outcome.Events.Single(), LedgerSetup.ApiJson, statusCode: StatusCodes.Status201Created);
    }
}
