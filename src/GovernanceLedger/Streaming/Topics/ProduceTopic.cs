using System.Diagnostics;
using System.Text.Json.Nodes;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Streaming;
using GovernanceLedger.Streaming.Kafka;
using Marten;

namespace GovernanceLedger.Streaming.Topics;

/// <summary>
/// POST /topics/{topic}/records with an app token: the only way an app writes to a curated topic. It needs an
/// active write grant on a topic no CDC connector feeds; every record is checked against the newest schema registered for the topic's value
/// subject before anything is sent, so one record that does not fit refuses the whole request (422 naming the
/// record's field) and nothing reaches the topic. Records go out in Confluent's wire format with the schema's
/// registered id. Each produce, served or refused, is an access event: it counts against the app's quotas
/// and its bytes (the Avro bytes produced) are charged to it.
/// </summary>
public sealed class ProduceTopic(DataPlaneGuard guard, AccessRecorder recorder, IDocumentStore store, KafkaSettings settings, AvroTopics avro,
    LedgerDatabase ledger) : IDisposable
{
    public const int MaxRecords = 500;
    public const int MaxBytes = 1024 * 1024;
    public const int MaxKeyLength = 1024;

    private readonly Lazy<IProducer<string?, byte[]>> _producer =
        new(() => new ProducerBuilder<string?, byte[]>(settings.Producer("governance-ledger-produce")).Build());

    public async Task<IResult> HandleAsync(HttpContext context, string topic)
    {
        var start = Stopwatch.GetTimestamp();
        var (caller, denial) = await guard.AdmitAsync(context, []);
        if (caller is null) return await RefuseAsync(context, topic, denial!, start);

        if (await WriterRefusalAsync(caller, topic, "has no", context.RequestAborted) is { } refused)
            return await RefuseAsync(context, topic, refused, start);

        var (body, invalid) = await StrictJson.ReadObjectAsync(context.Request, MaxBytes, "The records", context.RequestAborted);
        if (invalid is not null)
            return await RefuseAsync(context, topic, Refused(caller, invalid.Status, invalid.Errors.FirstOrDefault()?.Rule ?? "invalid", invalid.Detail), start,
                invalid.Errors);
        if (Shape(body!) is { } misshapen)
            return await RefuseAsync(context, topic, Refused(caller, 400, misshapen.Rule, misshapen.Message), start, [misshapen]);
        var items = body!["records"]!.AsArray();

        Avro.RecordSchema schema;
        try
        {
            schema = await avro.LatestAsync(topic);
        }
        catch (SchemaRegistryException e) when (e.ErrorCode is 40401 or 40402)
        {
            return await RefuseAsync(context, topic, Refused(caller, 409, "schema-required",
                $"No schema is registered under '{AvroTopics.ValueSubject(topic)}': records are only produced against a registered schema."), start);
        }

        // Every record is checked before any is sent: a request is produced whole or not at all.
        var records = new List<(string? Key, GenericRecord Value)>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var item = (JsonObject)items[i]!;
            var (value, problem) = AvroJsonValues.ReadRecord(schema, item["value"], $"records[{i}].value");
            if (problem is not null)
                return await RefuseAsync(context, topic, Refused(caller, 422, problem.Rule,
                    $"{problem.Field} does not fit the registered schema {schema.Fullname}: {problem.Message}"), start, [problem]);
            records.Add((item["key"]?.GetValue<string>(), value!));
        }

        var payloads = new List<(string? Key, byte[] Value)>(records.Count);
        foreach (var (key, value) in records) payloads.Add((key, await avro.SerializeAsync(topic, value)));
        // The grant and the topic's feed are checked again now that the body is in (it may have taken minutes to arrive),
        // under the topic's write lock: a connector declared, or a grant revoked, before this point is seen; one declared
        // after it waits until these records are on the topic, so they precede the connector's snapshot.
        await using var writing = await TopicWrites.ShareAsync(ledger, topic, context.RequestAborted);
        if (await WriterRefusalAsync(caller, topic, "no longer has a", context.RequestAborted) is { } revoked)
            return await RefuseAsync(context, topic, revoked, start);
        var deliveries = payloads.Select(p => _producer.Value.ProduceAsync(topic, new Message<string?, byte[]> { Key = p.Key, Value = p.Value })).ToList();
        try
        {
            await Task.WhenAll(deliveries);
        }
        catch (Exception e) when (e is ProduceException<string?, byte[]> or KafkaException)
        {
            // Idempotent and acknowledged by all replicas, or not at all: the app is told which records landed and retries the rest.
            var landed = deliveries.Select((d, i) => (d, i)).Where(x => x.d.IsCompletedSuccessfully).Select(x => Position(x.i, x.d.Result)).ToList();
            var reason = $"The cluster took {landed.Count} of {deliveries.Count} records: {e.Message}";
            await recorder.AllowedAsync(context, ReadTopic.Plane, topic, caller, 503, payloads.Where((_, i) => deliveries[i].IsCompletedSuccessfully).Sum(p => p.Value.Length),
                start, reason);
            return Results.Json(new Dictionary<string, object?>
            {
                ["type"] = "https://governance-ledger.dev/problems/unavailable", ["title"] = "Service unavailable", ["status"] = 503,
                ["detail"] = reason, ["errors"] = new[] { new { field = "records", rule = "produce-failed", message = reason } }, ["produced"] = landed
            }, LedgerSetup.ApiJson, "application/problem+json", 503);
        }

        var produced = deliveries.Select((d, i) => Position(i, d.Result)).ToList();
        var bytes = payloads.Sum(p => (long)p.Value.Length);
        await recorder.AllowedAsync(context, ReadTopic.Plane, topic, caller, 200, bytes, start,
            $"produced {produced.Count} records ({schema.Fullname})");
        return Results.Json(new { topic, schema = schema.Fullname, records = produced }, LedgerSetup.ApiJson);
    }

    private static object Position(int index, DeliveryResult<string?, byte[]> delivery) =>
        new { index, partition = delivery.Partition.Value, offset = delivery.Offset.Value };

    /// <summary>{"records": [{"key": "...", "value": {...}}, ...]}: 1 to MaxRecords records, a key optional and short.</summary>
    private static Violation? Shape(JsonObject body)
    {
        foreach (var (name, _) in body)
            if (name != "records") return new Violation(name, "unknown-field", $"'{StrictJson.Bounded(name, 40)}' is not a field of a produce request; send {{\"records\": [...]}}.");
        if (body["records"] is not JsonArray items || items.Count == 0)
            return new Violation("records", "required", "records is a non-empty array of {\"key\": ..., \"value\": {...}}.");
        if (items.Count > MaxRecords) return new Violation("records", "max-items", $"At most {MaxRecords} records per request; this has {items.Count}.");
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is not JsonObject item) return new Violation($"records[{i}]", "type", "Each record is an object with a value and an optional key.");
            foreach (var (name, _) in item)
                if (name is not ("key" or "value")) return new Violation($"records[{i}].{StrictJson.Bounded(name, 40)}", "unknown-field", "A record has only key and value.");
            if (!item.ContainsKey("value")) return new Violation($"records[{i}].value", "required", "Each record needs a value.");
            if (item["key"] is { } key && (key is not JsonValue k || !k.TryGetValue<string>(out var text) || text.Length > MaxKeyLength))
                return new Violation($"records[{i}].key", "type", $"A key is a string of at most {MaxKeyLength} characters.");
        }
        return null;
    }

    /// <summary>
    /// Why the app may not write to the topic now, if it may not: no active write grant, or a connector feeds the topic
    /// (checked on every produce, not only when the grant was given: a connector declared since makes the topic the source
    /// database's alone, and a grant from before that writes nothing to it).
    /// </summary>
    private async Task<Denial?> WriterRefusalAsync(AppCaller caller, string topic, string hasNo, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        if (await session.LoadAsync<TopicGrant>(TopicGrant.IdFor(caller.AppId, topic, TopicAccess.Write), ct) is not { Active: true })
            return Refused(caller, 403, "topic-grant", $"App '{caller.AppId}' {hasNo} {GrantTopic.ScopeOf(topic, TopicAccess.Write)} grant.");
        return await Cdc.CdcConnectors.FeedingAsync(session, topic, ct) is { } connector
            ? Refused(caller, 409, "cdc-owned-topic", $"Topic '{topic}' is fed by CDC connector '{connector}'; no app writes to it.")
            : null;
    }

    private static Denial Refused(AppCaller caller, int status, string rule, string reason) =>
        new(status, rule, reason, caller.AppId, null, caller.EndUser, caller.TokenId);

    private async Task<IResult> RefuseAsync(HttpContext context, string topic, Denial denial, long start, IReadOnlyList<Violation>? violations = null)
    {
        await recorder.DeniedAsync(context, ReadTopic.Plane, topic, denial, start);
        return AccessRecorder.Refusal(denial, violations);
    }

    public void Dispose()
    {
        if (!_producer.IsValueCreated) return;
        _producer.Value.Flush(TimeSpan.FromSeconds(5));
        _producer.Value.Dispose();
    }
}

/// <summary>
/// A topic's write lock in PostgreSQL (an advisory lock held by a transaction): produces share it while they check and
/// write, a connector's declaration takes it alone while it checks for writers and commits, so neither sees the other
/// half done, across every instance.
/// </summary>
public sealed class TopicWrites : IAsyncDisposable
{
    private const string Sql = "select pg_advisory_xact_lock{0}(hashtextextended('topic-writes:' || $1, 0))";
    private readonly Npgsql.NpgsqlConnection _connection;
    private readonly Npgsql.NpgsqlTransaction _transaction;

    private TopicWrites(Npgsql.NpgsqlConnection connection, Npgsql.NpgsqlTransaction transaction) => (_connection, _transaction) = (connection, transaction);

    /// <summary>The lock a produce holds while it checks and writes: shared with other produces.</summary>
    public static Task<TopicWrites> ShareAsync(LedgerDatabase ledger, string topic, CancellationToken ct) => LockAsync(ledger, topic, "_shared", ct);

    /// <summary>The lock a connector's declaration holds while it checks for writers and commits: alone.</summary>
    public static Task<TopicWrites> TakeAsync(LedgerDatabase ledger, string topic, CancellationToken ct) => LockAsync(ledger, topic, "", ct);

    private static async Task<TopicWrites> LockAsync(LedgerDatabase ledger, string topic, string kind, CancellationToken ct)
    {
        var connection = await ledger.Source.OpenConnectionAsync(ct);
        try
        {
            var transaction = await connection.BeginTransactionAsync(ct);
            await using var command = new Npgsql.NpgsqlCommand(string.Format(System.Globalization.CultureInfo.InvariantCulture, Sql, kind), connection, transaction);
            command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = topic });
            await command.ExecuteNonQueryAsync(ct);
            return new TopicWrites(connection, transaction);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Ends the transaction, which releases the lock, and returns the connection to the pool.</summary>
    public async ValueTask DisposeAsync()
    {
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
