using System.Text.Json;
using System.Text.Json.Serialization;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;
using GovernanceLedger.Streaming.Topics;
using Marten;
using Microsoft.Extensions.Options;

namespace GovernanceLedger.Streaming.Cdc;

public sealed record DeclareConnectorRequest(
    [property: JsonPropertyName("connector_id")] string? ConnectorId,
    [property: JsonPropertyName("source")] string? Source,
    [property: JsonPropertyName("dataset")] string? Dataset,
    [property: JsonPropertyName("target_topic")] string? TargetTopic,
    [property: JsonPropertyName("tables")] List<DeclaredTable>? Tables);

public sealed record DeclaredTable(
    [property: JsonPropertyName("table")] string? Table,
    [property: JsonPropertyName("key")] List<string>? Key,
    [property: JsonPropertyName("columns")] List<string>? Columns);

/// <summary>
/// POST /cdc/connectors (the admin policy): a connector is a ledger event naming its source, the allowed
/// tables and columns, and a provisioned curated topic. Columns must be fields of the curated dataset;
/// the dataset's PII tags decide the masking, so a connector cannot publish a PII column in clear.
/// </summary>
public static class DeclareConnector
{
    // An explicit endpoint rather than the aggregate workflow: the declaration is committed, then the connector
    // starts its replication slot at the source, which no ledger transaction can include.
    public static async Task<IResult> HandleAsync(HttpContext http, IDocumentStore store, CdcConnectors connectors,
        IOptionsMonitor<DataCatalog> catalog, GovernanceLedger.Streaming.Kafka.AvroTopics avro, LedgerDatabase ledger, TimeProvider clock,
        ILogger<CdcConnectors> logger, CancellationToken ct)
    {
        var caller = Caller.From(http.User);
        var (body, malformed) = await JsonBody.ReadAsync<DeclareConnectorRequest>(http.Request, ct);
        if (malformed is not null) return malformed.ToResult();

        var errors = new List<Violation>();
        if (body?.ConnectorId is not { Length: > 0 } id || !System.Text.RegularExpressions.Regex.IsMatch(id, @"\A[a-z][a-z0-9-]{1,40}\z"))
            errors.Add(new("connector_id", "slug", "connector_id is required: lowercase letters, digits and dashes, 2 to 41 characters."));
        if (body?.Source is not { Length: > 0 } source || connectors.ConnectionStringFor(source) is null)
            errors.Add(new("source", "known-source", $"source must name a configured source database (ConnectionStrings), got '{body?.Source}'."));
        var dataset = body?.Dataset is { } name && catalog.CurrentValue.Datasets.TryGetValue(name, out var d) ? d : null;
        if (dataset is null) errors.Add(new("dataset", "curated-dataset", $"dataset must be a curated dataset of the catalog, got '{body?.Dataset}'."));
        // A connector reads only its dataset's declared source, and never the ledger's own database.
        else if (body?.Source is { Length: > 0 } named && !string.Equals(named, dataset.Source, StringComparison.Ordinal))
            errors.Add(new("source", "dataset-source", $"dataset '{dataset.Name}' comes from source '{dataset.Source}', not '{named}'."));
        if (body?.Source is { Length: > 0 } src && connectors.IsLedgerDatabase(src))
            errors.Add(new("source", "not-the-ledger", "The ledger's own database is never a CDC source."));
        if (body?.TargetTopic is not { Length: > 0 }) errors.Add(new("target_topic", "required", "target_topic is required."));
        if (body?.Tables is not { Count: > 0 }) errors.Add(new("tables", "required", "tables must list at least one allowed table."));
        var tables = new List<CdcTable>();
        for (var i = 0; body?.Tables is not null && i < body.Tables.Count; i++)
        {
            var t = body.Tables[i];
            if (t.Table is not { Length: > 0 } || !System.Text.RegularExpressions.Regex.IsMatch(t.Table, @"\A[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?\z"))
                errors.Add(new($"tables[{i}].table", "identifier", "table must be a plain lowercase identifier, optionally schema-qualified."));
            // A dataset is one table at its source: a connector publishes that table and no other under its name.
            var bare = t.Table is { } named2 && named2.StartsWith("public.", StringComparison.Ordinal) ? named2["public.".Length..] : t.Table;
            if (dataset is not null && bare is not null && bare != dataset.TableName)
                errors.Add(new($"tables[{i}].table", "dataset-table", $"dataset '{dataset.Name}' is the table '{dataset.TableName}', not '{t.Table}'."));
            if (body.Tables.Take(i).Any(other => other.Table == t.Table || other.Table == $"public.{bare}" || $"public.{other.Table}" == t.Table))
                errors.Add(new($"tables[{i}].table", "uniqueItems", "each table is declared once."));
            if (t.Key is not { Count: > 0 }) errors.Add(new($"tables[{i}].key", "required", "key must name the primary-key columns."));
            else if (t.Key.Any(k => t.Columns?.Contains(k) != true))
                errors.Add(new($"tables[{i}].key", "key-in-columns", "every key column must also be one of the allowed columns."));
            if (t.Columns is not { Count: > 0 }) errors.Add(new($"tables[{i}].columns", "required", "columns must list the allowed columns."));
            foreach (var column in (t.Columns ?? []).Concat(t.Key ?? []).Distinct())
                if (dataset is not null && !dataset.Fields.Contains(column))
                    errors.Add(new($"tables[{i}].columns", "curated-field", $"column '{column}' is not a field of dataset '{dataset.Name}'."));
            if (dataset is not null && bare is not null)
                tables.Add(new CdcTable(bare, t.Key ?? [], t.Columns ?? [],
                    (t.Columns ?? []).Where(dataset.Pii.Contains).ToDictionary(c => c, c => dataset.Masking.GetValueOrDefault(c, "hash"))));
        }
        if (errors.Count > 0) return Problem.Invalid("The connector declaration is invalid.", [.. errors]).ToResult();

        await using var session = store.LightweightSession();
        if (!await TopicRequests.IsProvisionedAsync(session, body!.TargetTopic!, ct))
            return Problem.Conflict("topic-provisioned", $"Topic '{body.TargetTopic}' has not been provisioned: request it through POST /topics/requests first.").ToResult();
        // Change records are written against the topic's registered value schema, the snapshot's first among them.
        try
        {
            await avro.LatestAsync(body.TargetTopic!);
        }
        catch (Confluent.SchemaRegistry.SchemaRegistryException e) when (e.ErrorCode is 40401 or 40402)
        {
            return Problem.Conflict("schema-required",
                $"No schema is registered under '{GovernanceLedger.Streaming.Kafka.AvroTopics.ValueSubject(body.TargetTopic!)}': register the topic's value schema before a connector feeds it.").ToResult();
        }
        // Held until the declaration commits: a produce checking the topic now waits, and one in flight finishes first.
        await using var writing = await TopicWrites.TakeAsync(ledger, body.TargetTopic!, ct);
        // A connector's topic carries the source database's changes alone: apps still holding write grants on it are named,
        // to be revoked first (a produce is refused on a fed topic whatever grant it holds).
        var writers = (await session.Query<GovernanceLedger.Projections.Streaming.TopicGrant>()
                .Where(g => g.Topic == body.TargetTopic && g.Access == TopicAccess.Write && g.Active).ToListAsync(ct))
            .Select(g => g.AppId).Order(StringComparer.Ordinal).ToList();
        if (writers.Count > 0)
            return Problem.Conflict("topic-has-writers",
                $"Apps hold write grants on topic '{body.TargetTopic}' ({string.Join(", ", writers.Take(10))}); revoke them before a connector feeds it.").ToResult();
        // A key column must exist in the table, so no record is ever keyed by a column that is not there.
        var missing = await connectors.MissingColumnsAsync(body.Source!, tables, ct);
        if (missing.Count > 0)
            return Problem.Invalid("The connector declaration keys records by columns the source table does not have.",
                missing.Select(m => new Violation("tables", "existing-key", $"'{m}' is not a column at the source.")).ToArray()).ToResult();
        var declared = new CdcConnectorDeclared(body.ConnectorId!, body.Source!, dataset!.Name, body.TargetTopic!, tables, caller.Actor, clock.GetUtcNow());
        // What this request creates at the source is undone if the declaration does not commit, so no slot
        // or publication ever holds WAL without a ledger event (the reconciler removes any that still slip through).
        var existedBefore = await connectors.HasSourceObjectsAsync(declared, ct);
        long snapshotRows;
        try
        {
            snapshotRows = await connectors.PrepareAsync(declared, ct);
            session.Events.Append(CdcConnectors.StreamOf(declared.ConnectorId), declared);
            await session.SaveChangesAsync(ct);
        }
        catch (Exception e)
        {
            if (!existedBefore) await connectors.UndoAsync(declared, CancellationToken.None);
            if (e is not Npgsql.PostgresException pg) throw;
            logger.LogWarning(pg, "The source refused connector {Connector}; what it created was dropped", declared.ConnectorId);
            return new Problem(StatusCodes.Status502BadGateway, "https://governance-ledger.dev/problems/cdc-source", "The source database refused the connector",
                $"The source database refused the connector (SQLSTATE {pg.SqlState}); nothing was recorded and nothing was left at the source.",
                [new Violation("source", "logical-replication", $"SQLSTATE {pg.SqlState}")]).ToResult();
        }
        connectors.Start(declared);
        http.Response.Headers["X-Snapshot-Rows"] = snapshotRows.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Json(declared, LedgerSetup.ApiJson, statusCode: StatusCodes.Status201Created);
    }
}
