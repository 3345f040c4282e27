using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Avro;
using Avro.Generic;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Streaming.Kafka;

/// <summary>
/// Avro values from JSON as an app sends them, against a registered schema. Nothing is coerced: a value that
/// does not fit is a <see cref="Violation"/> naming its JSON path and the rule. Unions take the plain value of
/// the first branch it fits (or Avro's {"branch": value} form); bytes and fixed are base64, as topic reads
/// show them; logical types take their natural JSON (an ISO 8601 time, a date, a uuid, a decimal number) or
/// their base value.
/// </summary>
public static class AvroJsonValues
{
    public static (object? Value, Violation? Problem) Read(Schema schema, JsonNode? json, string path)
    {
        switch (schema)
        {
            case UnionSchema union:
                return ReadUnion(union, json, path);
            case LogicalSchema logical:
                return ReadLogical(logical, json, path);
            case RecordSchema record:
                return ReadRecord(record, json, path);
            case EnumSchema symbols:
                return json is JsonValue e && e.TryGetValue<string>(out var symbol)
                    ? symbols.Contains(symbol) ? (new GenericEnum(symbols, symbol), null)
                        : (null, new Violation(path, "enum-symbol", $"'{StrictJson.Bounded(symbol, 40)}' is not one of {symbols.Name}'s symbols: {string.Join(", ", symbols.Symbols)}."))
                    : Mismatch(path, $"a symbol of {symbols.Name}", json);
            case FixedSchema fixedSchema:
                if (Base64(json) is not { } fixedBytes) return Mismatch(path, $"{fixedSchema.Size} bytes in base64", json);
                return fixedBytes.Length == fixedSchema.Size
                    ? (new GenericFixed(fixedSchema, fixedBytes), null)
                    : (null, new Violation(path, "fixed-size", $"{fixedSchema.Name} is exactly {fixedSchema.Size} bytes; this is {fixedBytes.Length}."));
            case ArraySchema array:
                if (json is not JsonArray items) return Mismatch(path, "an array", json);
                var values = new object?[items.Count];
                for (var i = 0; i < items.Count; i++)
                {
                    var (item, problem) = Read(array.ItemSchema, items[i], $"{path}[{i}]");
                    if (problem is not null) return (null, problem);
                    values[i] = item;
                }
                return (values, null);
            case MapSchema map:
                if (json is not JsonObject entries) return Mismatch(path, "an object (a map)", json);
                var dictionary = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, node) in entries)
                {
                    var (item, problem) = Read(map.ValueSchema, node, $"{path}.{key}");
                    if (problem is not null) return (null, problem);
                    dictionary[key] = item;
                }
                return (dictionary, null);
            case PrimitiveSchema primitive:
                return ReadPrimitive(primitive.Tag, json, path);
            default:
                return (null, new Violation(path, "avro-type", $"The registered schema's type {schema.Tag} is not supported for produce."));
        }
    }

    public static (GenericRecord? Record, Violation? Problem) ReadRecord(RecordSchema schema, JsonNode? json, string path)
    {
        if (json is not JsonObject fields) return (null, MismatchViolation(path, $"an object ({schema.Name})", json));
        var record = new GenericRecord(schema);
        foreach (var (name, _) in fields)
            if (!schema.TryGetField(name, out _))
                return (null, new Violation(Join(path, name), "unknown-field", $"{schema.Name} has no field '{StrictJson.Bounded(name, 60)}'."));
        foreach (var field in schema.Fields)
        {
            var fieldPath = Join(path, field.Name);
            if (!fields.TryGetPropertyValue(field.Name, out var node))
            {
                if (field.DefaultValue is null)
                    return (null, new Violation(fieldPath, "required", $"'{field.Name}' has no default in the registered schema, so it is required."));
                node = JsonNode.Parse(field.DefaultValue.ToString(Newtonsoft.Json.Formatting.None));
            }
            var (value, problem) = Read(field.Schema, node, fieldPath);
            if (problem is not null) return (null, problem);
            record.Add(field.Name, value);
        }
        return (record, null);
    }

    private static (object? Value, Violation? Problem) ReadUnion(UnionSchema union, JsonNode? json, string path)
    {
        if (json is null)
            return union.Schemas.Any(s => s.Tag == Schema.Type.Null) ? (null, null) : (null, new Violation(path, "avro-type", "null is not allowed here."));
        foreach (var branch in union.Schemas.Where(s => s.Tag != Schema.Type.Null))
        {
            var (value, problem) = Read(branch, json, path);
            if (problem is null) return (value, null);
        }
        // Avro's own JSON form names the branch: {"string": "x"}, {"com.example.Order": {...}}.
        if (json is JsonObject { Count: 1 } wrapped)
        {
            var (name, inner) = wrapped.First();
            if (union.Schemas.FirstOrDefault(s => s.Fullname == name || s.Name == name) is { } named && named.Tag != Schema.Type.Null)
                return Read(named, inner, path);
        }
        return (null, new Violation(path, "avro-type",
            $"{Describe(json)} fits none of the union's types: {string.Join(", ", union.Schemas.Select(s => s.Fullname))}."));
    }

    private static (object? Value, Violation? Problem) ReadLogical(LogicalSchema logical, JsonNode? json, string path)
    {
        var name = logical.LogicalTypeName;
        try
        {
            switch (name)
            {
                case "timestamp-millis" or "timestamp-micros" or "local-timestamp-millis" or "local-timestamp-micros"
                    when json is JsonValue t && t.TryGetValue<string>(out var time):
                    return DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
                        ? (at.UtcDateTime, null)
                        : (null, new Violation(path, "avro-type", $"'{StrictJson.Bounded(time, 40)}' is not an ISO 8601 time ({name})."));
                case "date" when json is JsonValue d && d.TryGetValue<string>(out var day):
                    return DateOnly.TryParseExact(day, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
                        ? (date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc), null)
                        : (null, new Violation(path, "avro-type", $"'{StrictJson.Bounded(day, 40)}' is not a date (yyyy-MM-dd)."));
                case "decimal":
                    return ReadDecimal(logical, json, path);
            }
            // Otherwise the base value (a number of micros, a uuid string...), checked by the logical type itself.
            var (baseValue, problem) = Read(logical.BaseSchema, json, path);
            if (problem is not null) return (null, problem);
            var value = logical.LogicalType.ConvertToLogicalValue(baseValue, logical);
            logical.LogicalType.ConvertToBaseValue(value, logical);
            return (value, null);
        }
        catch (Exception e) when (e is AvroException or FormatException or OverflowException or ArgumentException or InvalidCastException)
        {
            return (null, new Violation(path, "avro-type", $"{Describe(json)} is not a valid {name}: {e.Message}"));
        }
    }

    private static (object? Value, Violation? Problem) ReadDecimal(LogicalSchema logical, JsonNode? json, string path)
    {
        var scale = logical.GetProperty("scale") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : 0;
        var text = json is JsonValue v && v.TryGetValue<JsonElement>(out var e)
            ? e.ValueKind switch { JsonValueKind.Number => e.GetRawText(), JsonValueKind.String => e.GetString(), _ => null }
            : null;
        if (text is null || !decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
            return Mismatch(path, "a decimal number", json);
        var scaled = number * (decimal)Math.Pow(10, scale);
        if (scaled != decimal.Truncate(scaled))
            return (null, new Violation(path, "decimal-scale", $"{text} has more than {scale} digits after the point."));
        return (new AvroDecimal(new BigInteger(scaled), scale), null);
    }

    private static (object? Value, Violation? Problem) ReadPrimitive(Schema.Type type, JsonNode? json, string path)
    {
        if (type == Schema.Type.Null)
            return json is null ? (null, null) : Mismatch(path, "null", json);
        if (json is not JsonValue value || !value.TryGetValue<JsonElement>(out var e)) return Mismatch(path, Expected(type), json);
        return type switch
        {
            Schema.Type.Boolean when e.ValueKind is JsonValueKind.True or JsonValueKind.False => (e.GetBoolean(), null),
            Schema.Type.Int when e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i) => (i, null),
            Schema.Type.Long when e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var l) => (l, null),
            Schema.Type.Float when e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var f) && Math.Abs(f) <= float.MaxValue => ((float)f, null),
            Schema.Type.Double when e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var d) => (d, null),
            Schema.Type.String when e.ValueKind == JsonValueKind.String => (e.GetString(), null),
            Schema.Type.Bytes when Base64(json) is { } bytes => (bytes, null),
            _ => Mismatch(path, Expected(type), json)
        };
    }

    private static string Expected(Schema.Type type) => type switch
    {
        Schema.Type.Int => "an int (a whole number within 32 bits)",
        Schema.Type.Long => "a long (a whole number within 64 bits)",
        Schema.Type.Float or Schema.Type.Double => "a number",
        Schema.Type.Boolean => "true or false",
        Schema.Type.String => "a string",
        Schema.Type.Bytes => "bytes in base64",
        _ => type.ToString().ToLowerInvariant()
    };

    private static byte[]? Base64(JsonNode? json)
    {
        if (json is not JsonValue v || !v.TryGetValue<string>(out var text)) return null;
        var buffer = new byte[text.Length * 3 / 4 + 3];
        return Convert.TryFromBase64String(text, buffer, out var written) ? buffer[..written] : null;
    }

    private static (object? Value, Violation? Problem) Mismatch(string path, string expected, JsonNode? json) =>
        (null, MismatchViolation(path, expected, json));

    private static Violation MismatchViolation(string path, string expected, JsonNode? json) =>
        new(path, "avro-type", $"Expected {expected}, got {Describe(json)}.");

    private static string Describe(JsonNode? json) => json switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue v when v.TryGetValue<JsonElement>(out var e) => e.ValueKind switch
        {
            JsonValueKind.String => $"the string '{StrictJson.Bounded(e.GetString() ?? "", 40)}'",
            JsonValueKind.Number => $"the number {StrictJson.Bounded(e.GetRawText(), 40)}",
            JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
            _ => e.ValueKind.ToString().ToLowerInvariant()
        },
        _ => "a value"
    };

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";
}
