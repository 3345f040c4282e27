using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace GovernanceLedger.Apps.Templates;

/// <summary>A starting point for a builder: manifest defaults plus the policy sets it always carries.</summary>
public sealed record AppTemplate(
    string Id, string Title, string Description,
    [property: JsonPropertyName("policy_sets")] IReadOnlyList<string> PolicySets,
    JsonObject Defaults, JsonObject? Quotas,
    [property: JsonPropertyName("embed")] string? Embed = null);

public sealed class TemplateCatalog
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    /// <summary>How a template's "quotas" object reads as <see cref="Contracts.Apps.AppQuotas"/>.</summary>
    public static readonly JsonSerializerOptions QuotaJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public TemplateCatalog()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Apps", "Templates", "templates.json");
        Templates = JsonSerializer.Deserialize<List<AppTemplate>>(File.ReadAllText(path), Json)
            ?? throw new InvalidOperationException($"{path} holds no templates.");
    }

    public IReadOnlyList<AppTemplate> Templates { get; }

    public AppTemplate? Find(string id) => Templates.FirstOrDefault(t => t.Id == id);

    /// <summary>
    /// Template defaults, then the builder's overrides. Policy sets are a union: an override can add
    /// a stricter set but never drop one the template carries.
    /// </summary>
    public static JsonObject Merge(AppTemplate template, JsonObject overrides)
    {
        var merged = (JsonObject)template.Defaults.DeepClone();
        foreach (var (key, value) in overrides)
            merged[key] = value?.DeepClone();

        var sets = template.PolicySets.ToList();
        if (overrides["policy_sets"] is JsonArray extra)
            sets.AddRange(extra.Select(s => s?.GetValueKind() == JsonValueKind.String ? s.GetValue<string>() : s?.ToJsonString() ?? "null"));
        merged["policy_sets"] = new JsonArray(sets.Distinct().Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
        if (!overrides.ContainsKey("quotas") && template.Quotas is not null)
            merged["quotas"] = template.Quotas.DeepClone();
        merged["template"] = template.Id;
        return merged;
    }
}
