using System.Text.Json;
using System.Text.Json.Nodes;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;

namespace GovernanceLedger.Gateway;

/// <summary>
/// Shapes a route's JSON response by its catalog dataset, at any depth and ignoring case: members named
/// like a dataset field the app was not granted are removed (when the app holds a grant on the dataset),
/// and members named like a PII field are masked with the dataset's strategy, as the data proxy masks.
/// </summary>
public static class ResponseMasking
{
    /// <summary>Shapes in place and returns the names of the PII fields that were present and masked.</summary>
    public static IReadOnlyList<string> Mask(JsonNode? node, DatasetEntry dataset, Masking masking, bool maskPii, IReadOnlyCollection<string>? granted)
    {
        var pii = maskPii ? dataset.Pii.ToDictionary(f => f, f => f, StringComparer.OrdinalIgnoreCase) : [];
        var withheld = granted is null
            ? new HashSet<string>(StringComparer.OrdinalIgnoreCase)
            : dataset.Fields.Where(f => !granted.Contains(f)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var masked = new SortedSet<string>(StringComparer.Ordinal);
        Walk(node, pii, withheld, dataset, masking, masked);
        return masked.ToList();
    }

    private static void Walk(JsonNode? node, Dictionary<string, string> pii, HashSet<string> withheld, DatasetEntry dataset, Masking masking, SortedSet<string> masked)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var key in obj.Select(p => p.Key).ToList())
                {
                    if (withheld.Contains(key))
                    {
                        obj.Remove(key);
                        continue;
                    }
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
                        Walk(obj[key], pii, withheld, dataset, masking, masked);
                    }
                }
                break;
            case JsonArray array:
                foreach (var item in array) Walk(item, pii, withheld, dataset, masking, masked);
                break;
        }
    }
}
