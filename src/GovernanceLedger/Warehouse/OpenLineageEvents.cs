using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Contracts.Warehouse;
using GovernanceLedger.Policies;

namespace GovernanceLedger.Warehouse;

/// <summary>
/// The ledger's lineage as OpenLineage 2-0-2 run events: an export run is a batch job from its source tables to its
/// warehouse table (with the column lineage and which columns were hashed); a CDC connector a streaming job from tables
/// to a topic; an app a service job reading the dataset fields it was granted. Input datasets carry the catalog's PII
/// tags per field, so a metadata catalog shows them.
/// </summary>
public sealed class OpenLineageEvents(LineageNames names, string jobNamespace)
{
    public const string Spec = "https://openlineage.io/spec/2-0-2/OpenLineage.json";
    public const string Producer = "urn:governance-ledger";
    private const string Facets = "https://openlineage.io/spec/facets";

    public JsonObject ExportRan(WarehouseExportRan e, ExportDefinition? definition, IReadOnlyList<DatasetEntry> sourceDatasets)
    {
        var inputs = new JsonArray();
        foreach (var table in e.SourceTables)
            inputs.Add(Dataset(names.Table(e.Source, table), null, PiiTags(sourceDatasets.Where(d => d.TableName == table.Split('.')[^1]).SelectMany(d => d.Pii))));
        var output = names.WarehouseTable(e.Target);
        var lineage = new JsonObject();
        foreach (var column in e.Columns.Where(c => c.DerivedFrom.Count > 0))
        {
            var fields = new JsonArray();
            foreach (var from in column.DerivedFrom)
            foreach (var table in e.SourceTables)
            {
                var input = names.Table(e.Source, table);
                fields.Add(new JsonObject
                {
                    ["namespace"] = input.Namespace, ["name"] = input.Name, ["field"] = from,
                    ["transformations"] = new JsonArray(new JsonObject
                    {
                        ["type"] = "DIRECT", ["subtype"] = column.Transform is null ? "IDENTITY" : "TRANSFORMATION",
                        ["description"] = column.Transform ?? "", ["masking"] = column.Transform is not null
                    })
                });
            }
            lineage[column.Name] = new JsonObject { ["inputFields"] = fields };
        }
        var outputDataset = Dataset(output, e.Columns.Select(c => (c.Name, (string?)c.Type)), null);
        outputDataset["facets"]!["columnLineage"] = Facet("1-2-0/ColumnLineageDatasetFacet.json", "ColumnLineageDatasetFacet", new JsonObject { ["fields"] = lineage });
        outputDataset["outputFacets"] = new JsonObject
        {
            ["outputStatistics"] = Facet("1-0-2/OutputStatisticsOutputDatasetFacet.json", "OutputStatisticsOutputDatasetFacet",
                new JsonObject { ["rowCount"] = e.Rows, ["size"] = e.Bytes })
        };
        return Run("COMPLETE", e.RunId, e.At, $"export.{e.Export}", "BATCH", "EXPORT", definition?.Sql, inputs, new JsonArray(outputDataset), null);
    }

    public JsonObject ExportStopped(string export, Guid runId, DateTimeOffset at, string message, ExportDefinition? definition) =>
        Run("FAIL", runId, at, $"export.{export}", "BATCH", "EXPORT", definition?.Sql, [], [],
            new JsonObject { ["errorMessage"] = Facet("1-0-1/ErrorMessageRunFacet.json", "ErrorMessageRunFacet",
                new JsonObject { ["message"] = message, ["programmingLanguage"] = "C#" }) });

    public JsonObject CdcDeclared(CdcConnectorDeclared e, Guid runId, string source, IReadOnlyList<DatasetEntry> datasets)
    {
        var inputs = new JsonArray();
        foreach (var table in e.Tables)
            inputs.Add(Dataset(names.Table(source, table.Table), table.Columns.Select(c => (c, (string?)null)),
                PiiTags(datasets.Where(d => d.TableName == table.Table).SelectMany(d => d.Pii).Where(table.Columns.Contains))));
        var topic = Dataset(names.Topic(e.TargetTopic), e.Tables.SelectMany(t => t.Columns).Distinct().Select(c => (c, (string?)null)), null);
        return Run("RUNNING", runId, e.At, $"cdc.{e.ConnectorId}", "STREAMING", "CDC", null, inputs, new JsonArray(topic), null);
    }

    public JsonObject CdcRetired(CdcConnectorRetired e, Guid runId) =>
        Run("COMPLETE", runId, e.At, $"cdc.{e.ConnectorId}", "STREAMING", "CDC", null, [], [], null);

    public JsonObject AppGranted(AccessGranted e, Guid runId, IReadOnlyDictionary<string, DatasetEntry> catalog)
    {
        var inputs = new JsonArray();
        foreach (var grant in e.Datasets)
        {
            if (!catalog.TryGetValue(grant.Name, out var dataset)) continue;
            inputs.Add(Dataset(names.Dataset(dataset), grant.Fields.Select(f => (f, (string?)null)), PiiTags(dataset.Pii.Where(grant.Fields.Contains))));
        }
        return Run("RUNNING", runId, e.At, $"app.{e.AppId}", "SERVICE", "APP", null, inputs, [], null);
    }

    public JsonObject AppRetired(AppRetired e, Guid runId) => Run("COMPLETE", runId, e.At, $"app.{e.AppId}", "SERVICE", "APP", null, [], [], null);

    private JsonObject Run(string type, Guid runId, DateTimeOffset at, string job, string processing, string jobType, string? sql,
        JsonArray inputs, JsonArray outputs, JsonObject? runFacets)
    {
        var jobFacets = new JsonObject
        {
            ["jobType"] = Facet("2-0-4/JobTypeJobFacet.json", "JobTypeJobFacet",
                new JsonObject { ["processingType"] = processing, ["integration"] = "GOVERNANCE_LEDGER", ["jobType"] = jobType })
        };
        if (sql is not null) jobFacets["sql"] = Facet("1-1-0/SQLJobFacet.json", "SQLJobFacet", new JsonObject { ["query"] = sql, ["dialect"] = "postgres" });
        var run = new JsonObject { ["runId"] = runId.ToString() };
        if (runFacets is not null) run["facets"] = runFacets;
        return new JsonObject
        {
            ["eventType"] = type,
            ["eventTime"] = at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"),
            ["run"] = run,
            ["job"] = new JsonObject { ["namespace"] = jobNamespace, ["name"] = job, ["facets"] = jobFacets },
            ["inputs"] = inputs,
            ["outputs"] = outputs,
            ["producer"] = Producer,
            ["schemaURL"] = $"{Spec}#/$defs/RunEvent"
        };
    }

    private static JsonObject Dataset(LineageName name, IEnumerable<(string Name, string? Type)>? fields, JsonArray? tags)
    {
        var facets = new JsonObject();
        if (fields is not null)
        {
            var schema = new JsonArray();
            foreach (var (field, type) in fields)
            {
                var entry = new JsonObject { ["name"] = field };
                if (type is not null) entry["type"] = type;
                schema.Add(entry);
            }
            facets["schema"] = Facet("1-2-0/SchemaDatasetFacet.json", "SchemaDatasetFacet", new JsonObject { ["fields"] = schema });
        }
        if (tags is { Count: > 0 }) facets["tags"] = Facet("1-0-0/TagsDatasetFacet.json", "TagsDatasetFacet", new JsonObject { ["tags"] = tags });
        return new JsonObject { ["namespace"] = name.Namespace, ["name"] = name.Name, ["facets"] = facets };
    }

    private static JsonArray PiiTags(IEnumerable<string> fields) =>
        new(fields.Distinct().Select(f => (JsonNode)new JsonObject { ["key"] = "pii", ["value"] = "true", ["source"] = "GOVERNANCE_LEDGER", ["field"] = f }).ToArray());

    private static JsonObject Facet(string file, string name, JsonObject body)
    {
        body["_producer"] = Producer;
        body["_schemaURL"] = $"{Facets}/{file}#/$defs/{name}";
        return body;
    }
}
