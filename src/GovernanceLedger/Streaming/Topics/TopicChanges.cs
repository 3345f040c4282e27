using System.Text.Json;
using System.Text.Json.Serialization;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;
using GovernanceLedger.Streaming.Kafka;
using Marten;

namespace GovernanceLedger.Streaming.Topics;

public sealed record TopicChangeRequest(
    [property: JsonPropertyName("partitions")] int? Partitions,
    [property: JsonPropertyName("retention_days")] int? RetentionDays,
    [property: JsonPropertyName("reason")] string? Reason);

/// <summary>
/// POST /topics/{topic}/changes: the only way a provisioned topic changes. Its owner or a platform admin
/// asks, with a reason; the `topic` stage policies decide on the settings it would have afterwards, the
/// request is recorded before the cluster is touched, and <see cref="TopicChanged"/> after it was.
/// Partitions only grow (Kafka cannot take them away). Refusals are recorded on the topic's stream.
/// </summary>
public static class TopicChanges
{
    // An explicit endpoint rather than the aggregate workflow: the change is committed before the cluster is
    // touched and the outcome after it, two transactions around an external call.
    public static async Task<IResult> HandleAsync(string topic, HttpContext http, IDocumentStore store, PolicyEngine policies,
        KafkaSettings settings, KafkaTopics topics, TimeProvider clock, CancellationToken ct)
    {
        var caller = Caller.From(http.User);
        var (body, malformed) = await JsonBody.ReadAsync<TopicChangeRequest>(http.Request, ct);
        if (malformed is not null) return malformed.ToResult();
        var errors = new List<Violation>();
        if (body?.Partitions is null && body?.RetentionDays is null)
            errors.Add(new("", "something-to-change", "Name the new partitions, retention_days or both."));
        if (!Reasons.IsMeaningful(body?.Reason)) errors.Add(new("reason", "required", "reason is required: something a person can read."));
        if (errors.Count > 0) return Problem.Invalid("The topic change is invalid.", [.. errors]).ToResult();

        await using var session = store.LightweightSession();
        var now = clock.GetUtcNow();
        var current = await TopicRequests.FindAsync(session, topic, ct);
        // Which topics exist is no secret (GET /topics lists them), so a missing one is plainly 404.
        if (current is not { IsProvisioned: true }) return Problem.NotFound($"Topic '{topic}' has not been provisioned.").ToResult();

        var partitions = body!.Partitions ?? current.Partitions;
        var retentionDays = body.RetentionDays ?? current.RetentionDays;
        var feeding = caller.IsAdmin ? null : await Cdc.CdcConnectors.FeedingAsync(session, topic, ct);
        var refusal = !caller.IsAdmin && !caller.Owns(current.Owner)
                ? Problem.Forbidden("topic-owner", $"Only the topic's owner or a platform admin changes topic '{topic}'.")
            // Whoever asked for the topic first, a connector's topic is the platform's: its partitions and retention are the
            // change feed's, and no owner who is not a platform admin changes them.
            : feeding is not null
                ? Problem.Forbidden("cdc-owned-topic", $"Topic '{topic}' is fed by CDC connector '{feeding}'; only a platform admin changes it.")
            : partitions < current.Partitions
                ? Problem.Invalid("partitions", "partitions-only-grow", $"Topic '{topic}' has {current.Partitions} partitions; Kafka cannot take partitions away.")
            : partitions == current.Partitions && retentionDays == current.RetentionDays
                ? Problem.Conflict("nothing-changes", $"Topic '{topic}' already has {current.Partitions} partitions and {current.RetentionDays} days of retention.")
            : partitions > current.Partitions && !topics.CanAddPartitions
                ? Problem.Conflict("cluster-cannot-add-partitions",
                    "The embedded in-memory cluster cannot add partitions to a topic; a real cluster (Kafka:Mode=cluster) can.")
            : null;
        if (refusal is not null) return await RefuseAsync(session, topic, refusal, caller, now, ct);

        var request = new TopicChangeRequested(topic, partitions, retentionDays, body.Reason!, caller.Actor, now);
        session.Events.Append(TopicRequests.StreamOf(topic), request);
        var (deciding, reasons) = TopicRequests.Check(policies, settings, topic, partitions, retentionDays);
        if (reasons.Count > 0)
        {
            session.Events.Append(TopicRequests.StreamOf(topic), new TopicRequestDenied(topic, deciding.PolicyId, deciding.Version, reasons, "ledger", now));
            await session.SaveChangesAsync(ct);
            return TopicRequests.PolicyRefusal(deciding, reasons);
        }

        // Recorded before the cluster is touched: a failed change leaves the request on record and no false "changed".
        await session.SaveChangesAsync(ct);
        await topics.ChangeAsync(topic, current.Partitions, partitions, retentionDays, ct);
        await topics.ChangeAsync($"{topic}.dlq", null, null, retentionDays, ct);
        var changed = new TopicChanged(topic, partitions, retentionDays, topics.ClusterName, deciding.PolicyId, deciding.Version, caller.Actor, clock.GetUtcNow());
        session.Events.Append(TopicRequests.StreamOf(topic), changed);
        await session.SaveChangesAsync(ct);
        return Results.Json(changed, LedgerSetup.ApiJson);
    }

    private static async Task<IResult> RefuseAsync(IDocumentSession session, string topic, Problem refusal, Caller caller, DateTimeOffset now, CancellationToken ct)
    {
        session.Events.Append(TopicRequests.StreamOf(topic), new GovernanceLedger.Contracts.Apps.GovernanceActionRefused(
            "", "change-topic", refusal.Errors.FirstOrDefault()?.Rule ?? "refused", refusal.Detail, caller.Actor, now));
        await session.SaveChangesAsync(ct);
        return refusal.ToResult();
    }
}
