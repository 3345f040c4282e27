using Avro;
using Newtonsoft.Json.Linq;

namespace GovernanceLedger.Streaming.Registry;

/// <summary>
/// Field defaults as the Avro specification has them: a default is a JSON value of the field's type (for a union, of
/// its first branch), so a reader filling in a missing field gets a value it can decode. Apache.Avro parses schemas
/// without checking this; a schema with a bad default would register and then break every reader that needs it.
/// </summary>
public static class AvroDefaults
{
    /// <summary>Each field whose default does not fit its type, as "Record.field: why".</summary>
    public static IReadOnlyList<string> Problems(Schema schema)
    {
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Walk(schema, seen, problems);
        return problems;
    }

    private static void Walk(Schema schema, HashSet<string> seen, List<string> problems)
    {
        switch (schema)
        {
            case RecordSchema record when seen.Add(record.Fullname):
                foreach (var field in record.Fields)
                {
                    if (field.DefaultValue is { } value && Why(field.Schema, value, 0) is { } why)
                        problems.Add($"{record.Name}.{field.Name}: the default {value.ToString(Newtonsoft.Json.Formatting.None)} {why}");
                    Walk(field.Schema, seen, problems);
                }
                break;
            case ArraySchema array: Walk(array.ItemSchema, seen, problems); break;
            case MapSchema map: Walk(map.ValueSchema, seen, problems); break;
            case UnionSchema union: foreach (var branch in union.Schemas) Walk(branch, seen, problems); break;
        }
    }

    /// <summary>Null when the value fits; otherwise why not.</summary>
    private static string? Why(Schema schema, JToken value, int depth)
    {
        if (depth > SchemaRegistryLedger.MaxSchemaDepth) return "is nested too deeply";
        switch (schema)
        {
            case LogicalSchema logical: return Why(logical.BaseSchema, value, depth + 1);
            case UnionSchema union:
                return union.Schemas.Count == 0 ? "is for an empty union"
                    : Why(union.Schemas[0], value, depth + 1) is { } why ? $"does not fit the union's first branch ({union.Schemas[0].Name}): it {why}" : null;
            case EnumSchema e:
                return value.Type == JTokenType.String && e.Symbols.Contains(value.Value<string>()!) ? null : $"is not one of the symbols of {e.Name}";
            case FixedSchema f:
                return value.Type == JTokenType.String && value.Value<string>()!.Length == f.Size ? null : $"is not a string of {f.Size} bytes";
            case ArraySchema a:
                return value is JArray items ? items.Select(i => Why(a.ItemSchema, i, depth + 1)).FirstOrDefault(w => w is not null) : "is not an array";
            case MapSchema m:
                return value is JObject entries ? entries.Properties().Select(p => Why(m.ValueSchema, p.Value, depth + 1)).FirstOrDefault(w => w is not null) : "is not an object";
            case RecordSchema r:
                if (value is not JObject fields) return "is not an object";
                foreach (var field in r.Fields)
                {
                    if (fields[field.Name] is { } given) { if (Why(field.Schema, given, depth + 1) is { } inner) return $"has {field.Name} that {inner}"; }
                    else if (field.DefaultValue is null) return $"has no {field.Name}, which has no default";
                }
                return null;
        }
        return schema.Tag switch
        {
            Schema.Type.Null => value.Type == JTokenType.Null ? null : "is not null",
            Schema.Type.Boolean => value.Type == JTokenType.Boolean ? null : "is not a boolean",
            Schema.Type.Int => value.Type == JTokenType.Integer && value.Value<long>() is >= int.MinValue and <= int.MaxValue ? null : "is not an int",
            Schema.Type.Long => value.Type == JTokenType.Integer ? null : "is not a long",
            Schema.Type.Float or Schema.Type.Double => value.Type is JTokenType.Float or JTokenType.Integer ? null : "is not a number",
            Schema.Type.String or Schema.Type.Bytes => value.Type == JTokenType.String ? null : $"is not a string",
            _ => null
        };
    }
}
