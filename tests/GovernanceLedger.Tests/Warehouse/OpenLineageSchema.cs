using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace GovernanceLedger.Tests.Warehouse;

/// <summary>
/// Validates OpenLineage run events against the specification's own schemas: the core RunEvent, and every facet map
/// (job, run, dataset, output) against each facet schema the ledger uses, resolved offline by their $id.
/// </summary>
public static class OpenLineageSchema
{
    private static readonly Lazy<(JsonSchema Core, IReadOnlyList<JsonSchema> Facets)> Schemas = new(Load);
    private static readonly EvaluationOptions Options = new() { OutputFormat = OutputFormat.List, RequireFormatValidation = true };

    private static (JsonSchema, IReadOnlyList<JsonSchema>) Load()
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "Warehouse", "OpenLineage");
        var build = new BuildOptions { SchemaRegistry = new SchemaRegistry(), Dialect = Dialect.Draft202012 };
        var core = JsonSchema.FromText(File.ReadAllText(Path.Combine(directory, "OpenLineage.json")), build);
        var facets = Directory.GetFiles(directory, "*Facet.json").Order()
            .Select(f => JsonSchema.FromText(File.ReadAllText(f), build)).ToList();
        return (core, facets);
    }

    /// <summary>Every violation in the event, as "where: what"; empty when it is valid.</summary>
    public static IReadOnlyList<string> Errors(JsonNode runEvent)
    {
        var (core, facets) = Schemas.Value;
        var errors = new List<string>();
        Evaluate(core, runEvent, "event", errors);
        var maps = new List<(string, JsonNode?)> { ("job.facets", runEvent["job"]?["facets"]), ("run.facets", runEvent["run"]?["facets"]) };
        foreach (var side in new[] { "inputs", "outputs" })
            foreach (var (dataset, i) in (runEvent[side]?.AsArray() ?? []).Select((d, i) => (d, i)))
            {
                maps.Add(($"{side}[{i}].facets", dataset?["facets"]));
                maps.Add(($"{side}[{i}].outputFacets", dataset?["outputFacets"]));
            }
        foreach (var (where, map) in maps.Where(m => m.Item2 is not null))
            foreach (var facet in facets) Evaluate(facet, map!, where, errors);
        return errors;
    }

    private static void Evaluate(JsonSchema schema, JsonNode node, string where, List<string> errors)
    {
        var result = schema.Evaluate(JsonDocument.Parse(node.ToJsonString()).RootElement, Options);
        if (result.IsValid) return;
        errors.AddRange((result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{where}{d.InstanceLocation}: {e.Value}")));
        if (errors.Count == 0) errors.Add($"{where}: invalid");
    }
}
