using System.Text.Json;
using System.Text.Json.Serialization;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;
using GovernanceLedger.Streaming.Kafka;
using GovernanceLedger.Projections.Streaming;
using Marten;

namespace GovernanceLedger.Streaming.Topics;

public sealed record TopicRequest(
    [property: JsonPropertyName("topic")] string? Topic,
    [property: JsonPropertyName("partitions")] int? Partitions,
    [property: JsonPropertyName("retention_days")] int? RetentionDays,
    [property: JsonPropertyName("owner")] string? Owner,
    [property: JsonPropertyName("purpose")] string? Purpose);

/// <summary>
/// POST /topics/requests: a topic request is a ledger event, decided by the `topic` stage policies
/// against the topic policy (allowed topics, max partitions, retention). Allowed requests are created
/// on the cluster (with a dead-letter topic beside them); refused ones get 403 naming each broken rule.
/// </summary>
public static class TopicRequests
{
    public static string StreamOf(string topic) => $"topic:{topic}";

    public static async Task<TopicEntry?> FindAsync(IQuerySession session, string topic, CancellationToken ct) =>
        await session.LoadAsync<TopicEntry>(StreamOf(topic), ct);

    public static async Task<bool> IsProvisionedAsync(IQuerySession session, string topic, CancellationToken ct) =>
        (await FindAsync(session, topic, ct))?.IsProvisioned == true;

    /// <summary>The `topic` stage policies on a topic's settings, against the topic policy; the first that fired decides.</summary>
    public static (PolicyVerdict Deciding, IReadOnlyList<string> Reasons) Check(
        PolicyEngine policies, KafkaSettings settings, string topic, int partitions, int retentionDays)
    {
        var verdicts = policies.EvaluateStage(PolicyStages.Topic, new Dictionary<string, object?>
        {
            ["request"] = new Dictionary<string, object?>
            {
                ["topic"] = topic, ["partitions"] = (long)partitions, ["retention_days"] = (long)retentionDays
            },
            ["policy"] = new Dictionary<string, object?>
            {
                ["allowed_topics"] = settings.TopicPolicy.AllowedTopics.Cast<object?>().ToList(),
                ["max_partitions"] = (long)settings.TopicPolicy.MaxPartitions,
                ["retention_days"] = (long)settings.TopicPolicy.RetentionDays
            }
        });
        var fired = verdicts.Where(v => v.Fired).ToList();
        return (fired.FirstOrDefault() ?? verdicts[0], fired.SelectMany(v => v.Findings.Count > 0 ? v.Findings : [v.Reason]).ToList());
    }

    public static IResult PolicyRefusal(PolicyVerdict deciding, IReadOnlyList<string> reasons) =>
        new Problem(StatusCodes.Status403Forbidden, "https://governance-ledger.dev/problems/topic-policy", "The topic request breaks the topic policy",
            $"{deciding.PolicyId} v{deciding.Version}: {string.Join("; ", reasons)}",
            reasons.Select(r => new Violation(FieldOf(r), deciding.PolicyId, r)).ToList()).ToResult();

    // An explicit endpoint rather than the aggregate workflow: the request is committed before the cluster is
    // touched and the outcome after it, two transactions around an external call.
    public static async Task<IResult> HandleAsync(HttpContext http, IDocumentStore store, PolicyEngine policies, KafkaSettings settings,
        KafkaTopics topics, TimeProvider clock, CancellationToken ct)
    {
        var caller = Caller.From(http.User);
        var (body, malformed) = await JsonBody.ReadAsync<TopicRequest>(http.Request, ct);
        if (malformed is not null) return malformed.ToResult();
        var errors = new List<Violation>();
        if (body?.Topic is not { Length: > 0 } topic || !System.Text.RegularExpressions.Regex.IsMatch(topic, @"\A[a-z0-9][a-z0-9._-]{0,200}\z"))
            errors.Add(new("topic", "topic-name", "topic is required: lowercase letters, digits, dots, dashes and underscores."));
        if (body?.Partitions is null) errors.Add(new("partitions", "required", "partitions is required."));
        if (body?.RetentionDays is null) errors.Add(new("retention_days", "required", "retention_days is required."));
        if (body?.Purpose is not { Length: > 0 }) errors.Add(new("purpose", "required", "purpose is required: say what the topic carries and for whom."));
        if (body?.Owner is { } named && !Identifiers.IsEmail(named))
            errors.Add(new("owner", "email", "owner must be a lowercase e-mail address."));
        if (errors.Count > 0) return Problem.Invalid("The topic request is invalid.", [.. errors]).ToResult();

        await using var session = store.LightweightSession();
        var now = clock.GetUtcNow();
        var me = (caller.Email ?? caller.Subject).ToLowerInvariant();
        // The owner is the caller; only a platform admin may request a topic on someone else's behalf.
        var refusal = body!.Owner is { } owner && !caller.IsAdmin && !caller.Owns(owner)
                ? Problem.Forbidden("owner-is-caller", "The owner of a topic you request is you; only a platform admin names someone else.")
            : await IsProvisionedAsync(session, body.Topic!, ct)
                ? Problem.Conflict("topic-exists", $"Topic '{body.Topic}' is already provisioned; its owner or a platform admin changes it through a change request.")
            : null;
        if (refusal is not null)
        {
            session.Events.Append(StreamOf(body!.Topic!), new GovernanceLedger.Contracts.Apps.GovernanceActionRefused(
                "", "request-topic", refusal.Errors.FirstOrDefault()?.Rule ?? "refused", refusal.Detail, caller.Actor, now));
            await session.SaveChangesAsync(ct);
            return refusal.ToResult();
        }

        var request = new TopicRequested(body!.Topic!, body.Partitions!.Value, body.RetentionDays!.Value, body.Owner ?? me,
            body.Purpose!, caller.Actor, now);
        var (deciding, reasons) = Check(policies, settings, request.Topic, request.Partitions, request.RetentionDays);
        session.Events.Append(StreamOf(request.Topic), request);
        if (reasons.Count > 0)
        {
            session.Events.Append(StreamOf(request.Topic), new TopicRequestDenied(request.Topic, deciding.PolicyId, deciding.Version, reasons, "ledger", clock.GetUtcNow()));
            await session.SaveChangesAsync(ct);
            return PolicyRefusal(deciding, reasons);
        }

        // The request is committed before the topic is created, so no topic ever exists without a record of it;
        // a failed creation leaves only the request recorded, never a false "provisioned".
        await session.SaveChangesAsync(ct);
        await topics.EnsureAsync(request.Topic, request.Partitions, request.RetentionDays, ct);
        await topics.EnsureAsync($"{request.Topic}.dlq", 1, request.RetentionDays, ct);
        var provisioned = new TopicProvisioned(request.Topic, request.Partitions, request.RetentionDays, topics.ClusterName,
            deciding.PolicyId, deciding.Version, "ledger", clock.GetUtcNow());
        session.Events.Append(StreamOf(request.Topic), provisioned);
        await session.SaveChangesAsync(ct);
        return Results.Json(provisioned, LedgerSetup.ApiJson, statusCode: StatusCodes.Status201Created);
    }

    private static string FieldOf(string finding) =>
        finding.StartsWith("topic ", StringComparison.Ordinal) ? "topic"
        : finding.StartsWith("partitions", StringComparison.Ordinal) ? "partitions"
        : finding.StartsWith("retention_days", StringComparison.Ordinal) ? "retention_days" : "";
}
