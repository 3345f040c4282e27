using System.Text.Json;
using System.Text.Json.Serialization;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using GovernanceLedger.Projections.Streaming;
using Marten;

namespace GovernanceLedger.Streaming.Topics;

public sealed record TopicGrantRequest(
    [property: JsonPropertyName("app_id")] string? AppId,
    [property: JsonPropertyName("reason")] string? Reason);

/// <summary>
/// POST /topics/{topic}/grants and DELETE /topics/{topic}/grants/{app_id} (security reviewers): the
/// read:topic:&lt;name&gt; grant. It is recorded in the app's own stream so its timeline shows it, and
/// names the consumer group derived from the app id, the only group the app may read with.
/// </summary>
public static class TopicGrants
{
    public static string ConsumerGroupOf(string appId) => $"app.{appId}";
    public static string ScopeOf(string topic) => $"read:topic:{topic}";

    public static async Task<IResult> GrantAsync(string topic, HttpContext http, IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        var caller = Caller.From(http.User);
        var (body, malformed) = await JsonBody.ReadAsync<TopicGrantRequest>(http.Request, ct);
        if (malformed is not null) return malformed.ToResult();
        var errors = new List<Violation>();
        if (body?.AppId is not { Length: > 0 }) errors.Add(new("app_id", "required", "app_id is required."));
        if (!Reasons.IsMeaningful(body?.Reason)) errors.Add(new("reason", "required", "reason is required: something a person can read."));
        if (errors.Count > 0) return Problem.Invalid("The grant is invalid.", [.. errors]).ToResult();

        await using var session = store.LightweightSession();
        var now = clock.GetUtcNow();
        var app = await session.LoadAsync<GovernanceLedger.Projections.Catalog.AppCatalogEntry>(body!.AppId!, ct);
        if (app is null || !caller.MaySee(app.Owner))
            return await RefuseAsync(session, app?.Id, "grant-topic", Problem.NoSuchApp(body.AppId!), caller, now, ct);
        var (lifecycle, version) = await GovernanceLedger.Apps.AppStream.LoadAsync(session, app.Id, ct);
        var refusal = lifecycle?.IsOwnedBy(caller) != false
                ? Problem.Forbidden("no-self-grant", "Nobody grants topic access to their own app; another reviewer must.")
            : app.Status != GovernanceLedger.Contracts.Apps.AppStatus.Active
                ? Problem.Conflict("app-active", $"App '{app.Id}' is {app.Status}; only active apps get topic grants.")
            : !await TopicRequests.IsProvisionedAsync(session, topic, ct)
                ? Problem.NotFound($"Topic '{topic}' has not been provisioned.")
            : null;
        if (refusal is not null) return await RefuseAsync(session, app.Id, "grant-topic", refusal, caller, now, ct);

        var granted = new TopicAccessGranted(app.Id, topic, ConsumerGroupOf(app.Id), body.Reason!, caller.Actor, now);
        // At the version it was decided on, like every lifecycle event: the app's version moves with it, and a
        // lifecycle change racing it gets 409 rather than landing unseen.
        session.Events.Append(app.Id, version + 1, granted);
        await session.SaveChangesAsync(ct);
        return Results.Json(granted, LedgerSetup.ApiJson, statusCode: StatusCodes.Status201Created);
    }

    public static async Task<IResult> RevokeAsync(string topic, string appId, string? reason, HttpContext http, IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        var caller = Caller.From(http.User);
        if (!Reasons.IsMeaningful(reason)) return Problem.Invalid("reason", "required", "reason is required (query string): something a person can read.").ToResult();
        await using var session = store.LightweightSession();
        var now = clock.GetUtcNow();
        var app = await session.LoadAsync<GovernanceLedger.Projections.Catalog.AppCatalogEntry>(appId, ct);
        if (app is null || !caller.MaySee(app.Owner))
            return await RefuseAsync(session, app?.Id, "revoke-topic", Problem.NoSuchApp(appId), caller, now, ct);
        var grant = await session.LoadAsync<TopicGrant>(TopicGrant.IdFor(appId, topic), ct);
        var refusal = grant is not { Active: true }
                ? Problem.NotFound($"App '{appId}' holds no grant on topic '{topic}'.")
            : null;
        if (refusal is not null) return await RefuseAsync(session, app.Id, "revoke-topic", refusal, caller, now, ct);

        var revoked = new TopicAccessRevoked(appId, topic, reason, caller.Actor, now);
        var (_, version) = await GovernanceLedger.Apps.AppStream.LoadAsync(session, appId, ct);
        session.Events.Append(appId, version + 1, revoked);
        await session.SaveChangesAsync(ct);
        return Results.Json(revoked, LedgerSetup.ApiJson);
    }

    /// <summary>A refusal on an app that exists is recorded on its timeline before it is answered.</summary>
    private static async Task<IResult> RefuseAsync(
        IDocumentSession session, string? appId, string action, Problem refusal, Caller caller, DateTimeOffset now, CancellationToken ct)
    {
        if (appId is not null)
            await GovernanceLedger.Apps.AppStream.RecordRefusalAsync(session.DocumentStore, appId, action, refusal, caller, now, ct);
        return refusal.ToResult();
    }
}
