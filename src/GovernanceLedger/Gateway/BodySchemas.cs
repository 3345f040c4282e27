using System.Collections.Concurrent;
using System.Text.Json;
using GovernanceLedger.Infrastructure;
using Json.Schema;

namespace GovernanceLedger.Gateway;

/// <summary>Compiled request-body schemas for gateway routes, loaded once from schemas/.</summary>
public sealed class BodySchemas(IHostEnvironment environment)
{
    private static readonly EvaluationOptions Options = new() { OutputFormat = OutputFormat.List, RequireFormatValidation = true };
    private readonly ConcurrentDictionary<string, JsonSchema> _schemas = new();

    public IReadOnlyList<Violation> Validate(string schemaFile, ReadOnlyMemory<byte> body)
    {
        var schema = _schemas.GetOrAdd(schemaFile, Load);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, StrictJson.DocumentOptions);
        }
        catch (JsonException e)
        {
            return [new Violation("", "json", $"The body is not valid JSON: {e.Message}")];
        }
        using (document)
        {
            var result = schema.Evaluate(document.RootElement, Options);
            if (result.IsValid) return [];
            return (result.Details ?? [])
                .Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => new Violation(
                    d.InstanceLocation.ToString().TrimStart('/').Replace('/', '.'), e.Key.Length == 0 ? "additionalProperties" : e.Key, e.Value)))
                .Distinct().ToList();
        }
    }

    private JsonSchema Load(string file)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "schemas", file);
        if (!File.Exists(path)) path = Path.Combine(environment.ContentRootPath, "..", "..", "schemas", file);
        return JsonSchema.FromText(Identifiers.AnchorSchemaPatterns(System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!).ToJsonString(),
            new BuildOptions { SchemaRegistry = new SchemaRegistry() });
    }
}
