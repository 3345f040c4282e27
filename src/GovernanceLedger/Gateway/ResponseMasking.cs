using System.Text.Json;
using System.Text.Json.Nodes;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;

namespace GovernanceLedger.Gateway;

/// <summary>
/// Masks a route's JSON response by its catalog dataset: every member named like one of the dataset's
/// PII fields (ignoring case), at any depth, is masked with the dataset's strategy for that field, the
/// same way the data proxy masks query results.
/// </summary>
public static class ResponseMasking
{
    /// <summary>Masks in place and returns the names of the PII fields that were present and masked.</summary>
    public static IReadOnlyList<string> Mask(JsonNode? node, DatasetEntry dataset, Masking masking)
    {
        var pii = dataset.Pii.ToDictionary(f => f, f => f, StringComparer.OrdinalIgnoreCase);
        var masked = new SortedSet<string>(StringComparer.Ordinal);
        Walk(node, pii, dataset, masking, masked);
        return masked.ToList();
    }

    private static void Walk(JsonNode? node, Dictionary<string, string> pii, DatasetEntry dataset, Masking masking, SortedSet<string> masked)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var key in obj.Select(p => p.Key).ToList())
                {
                    if (pii.TryGetValue(key, out var field))
                    {
                        var value = obj[key];
                        if (value is null) continue;
                        // A nested value under a PII name is PII as a whole.
                        var text = value is JsonValue scalar && scalar.GetValueKind() == JsonValueKind.String
                            ? scalar.GetValue<string>()
                            : value.ToJsonString();
                        obj[key] = JsonValue.Create(masking.Apply(dataset.MaskingFor(field), text) as string);
                        masked.Add(field);
                    }
                    else
                    {
                        Walk(obj[key], pii, dataset, masking, masked);
                    }
                }
                break;
            case JsonArray array:
                foreach (var item in array) Walk(item, pii, dataset, masking, masked);
                break;
        }
    }
}
