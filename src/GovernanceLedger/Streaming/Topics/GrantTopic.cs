using System.Security.Claims;
using System.Text.Json.Serialization;
using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Streaming.Topics;

public sealed record TopicGrantRequest(
    [property: JsonPropertyName("app_id")] string? AppId,
    [property: JsonPropertyName("reason")] string? Reason);

/// <summary>
/// POST /topics/{topic}/grants (security reviewers): the read:topic:&lt;name&gt; grant. It is an event in the
/// app's own stream, so its timeline shows it and its version moves with it, and it names the consumer group
/// derived from the app id, the only group the app may read with.
/// </summary>
public static class GrantTopic
{
    public static string ConsumerGroupOf(string appId) => $"app.{appId}";
    public static string ScopeOf(string topic) => $"read:topic:{topic}";

    public static Decision Decide(App app, Caller reviewer, string topic, string reason, bool provisioned, DateTimeOffset now) =>
        app.IsOwnedBy(reviewer) ? Problem.Forbidden("no-self-grant", "Nobody grants topic access to their own app; another reviewer must.")
        : app.Status != AppStatus.Active ? Problem.Conflict("app-active", $"App '{app.Id}' is {app.Status}; only active apps get topic grants.")
        : !provisioned ? Problem.NotFound($"Topic '{topic}' has not been provisioned.")
        : Decision.Accept(new TopicAccessGranted(app.Id, topic, ConsumerGroupOf(app.Id), reason, reviewer.Actor, now));

    [WolverinePost("/topics/{topic}/grants", OperationId = "grantTopic"), Authorize(Policy = PeopleAuthentication.Policies.Reviewer)]
    [Tags("Streaming")]
    public static async Task<IResult> Post(
        string topic, TopicGrantRequest request, ClaimsPrincipal user, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        var errors = new List<Violation>();
        if (request.AppId is not { Length: > 0 }) errors.Add(new("app_id", "required", "app_id is required."));
        if (!Reasons.IsMeaningful(request.Reason)) errors.Add(new("reason", "required", "reason is required: something a person can read."));
        if (errors.Count > 0) return Problem.Invalid("The grant is invalid.", [.. errors]).ToResult();

        // The app is named in the body, which is checked first, so its stream is fetched here rather than by
        // [WriteAggregate]: the same fetch for writing, and Wolverine's transaction commits what is appended.
        var app = await session.Events.FetchForWriting<App>(request.AppId!, ct);
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        var provisioned = await TopicRequests.IsProvisionedAsync(session, topic, ct);
        var outcome = await AppStream.DecideAsync(app, null, "grant-topic", caller, now,
            a => Decide(a, caller, topic, request.Reason!, provisioned, now), session.DocumentStore, ct);
        if (outcome.Problem is { } refused) return refused.ToResult();
        app.AppendMany(outcome.Events);
        return Results.Json(outcome.Events.Single(), LedgerSetup.ApiJson, statusCode: StatusCodes.Status201Created);
    }
}
