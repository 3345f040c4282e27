using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// Identifiers are compared byte for byte, so each has exactly one written form. Patterns are matched
/// against the whole string (\A ... \z: .NET's $ also matches before a final newline), and text that
/// names or describes anything may not carry characters a reader cannot see.
/// </summary>
public static partial class Identifiers
{
    /// <summary>App ids, template ids, connector ids: lowercase letters and digits in hyphen-separated words.</summary>
    public static bool IsSlug(string? value) => value is { Length: >= 1 and <= 63 } && Slug().IsMatch(value);

    /// <summary>Group names in an audience: a lowercase slug that may also use '.', '_' and '-'.</summary>
    public static bool IsGroup(string? value) => value is { Length: >= 1 and <= 128 } && Group().IsMatch(value);

    /// <summary>A canonical e-mail address: lowercase, no spaces, no invisible characters.</summary>
    public static bool IsEmail(string? value) => value is { Length: >= 3 and <= 254 } && Email().IsMatch(value);

    /// <summary>
    /// True when the text holds a control, format (zero-width, direction override, BOM), line or paragraph
    /// separator, private-use or unassigned character: none belongs in anything a person reads as a name.
    /// </summary>
    public static bool HasInvisible(string value)
    {
        foreach (var rune in value.EnumerateRunes())
        {
            switch (Rune.GetUnicodeCategory(rune))
            {
                case UnicodeCategory.Control:
                case UnicodeCategory.Format:
                case UnicodeCategory.LineSeparator:
                case UnicodeCategory.ParagraphSeparator:
                case UnicodeCategory.PrivateUse:
                case UnicodeCategory.OtherNotAssigned:
                case UnicodeCategory.Surrogate:
                    return true;
            }
        }
        return false;
    }

    /// <summary>Every string in the document (member names included) whose text has an invisible character, by path.</summary>
    public static IEnumerable<string> InvisibleIn(JsonNode? node, string path = "")
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    var child = path.Length == 0 ? key : $"{path}.{key}";
                    if (HasInvisible(key)) yield return child;
                    foreach (var inner in InvisibleIn(value, child)) yield return inner;
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                    foreach (var inner in InvisibleIn(array[i], $"{path}[{i}]")) yield return inner;
                break;
            case JsonValue value when value.GetValueKind() == System.Text.Json.JsonValueKind.String:
                if (HasInvisible(value.GetValue<string>())) yield return path;
                break;
        }
    }

    /// <summary>Anchors a JSON Schema pattern (ECMA-262, where $ is the true end) for .NET, where $ also matches before a final \n.</summary>
    public static string AnchorForDotNet(string pattern) =>
        pattern.EndsWith('$') && !pattern.EndsWith("\\$", StringComparison.Ordinal) ? pattern[..^1] + "\\z" : pattern;

    /// <summary>Rewrites every "pattern" in a JSON Schema document with <see cref="AnchorForDotNet"/>.</summary>
    public static JsonNode AnchorSchemaPatterns(JsonNode schema)
    {
        switch (schema)
        {
            case JsonObject obj:
                foreach (var key in obj.Select(p => p.Key).ToList())
                {
                    if (key == "pattern" && obj[key] is JsonValue v && v.TryGetValue<string>(out var pattern))
                        obj[key] = AnchorForDotNet(pattern);
                    else if (obj[key] is { } child)
                        AnchorSchemaPatterns(child);
                }
                break;
            case JsonArray array:
                foreach (var item in array)
                    if (item is not null) AnchorSchemaPatterns(item);
                break;
        }
        return schema;
    }

    [GeneratedRegex(@"\A[a-z][a-z0-9]*(-[a-z0-9]+)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex Slug();

    [GeneratedRegex(@"\A[a-z0-9][a-z0-9._-]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex Group();

    [GeneratedRegex(@"\A[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9-]+(\.[a-z0-9-]+)+\z", RegexOptions.CultureInvariant)]
    private static partial Regex Email();
}
