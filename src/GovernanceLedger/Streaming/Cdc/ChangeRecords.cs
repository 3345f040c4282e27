using System.Globalization;
using Avro;
using Avro.Generic;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Streaming.Cdc;

/// <summary>One captured row change, before masking: column values as PostgreSQL's text output.</summary>
public sealed record RowChange(
    string Schema, string Table, string Op, IReadOnlyDictionary<string, string?>? Before, IReadOnlyDictionary<string, string?>? After,
    string Lsn, long? TxId, DateTimeOffset CommittedAt);

/// <summary>
/// Turns a row change into a Debezium-style Avro envelope (before, after, op, source, ts_ms) of the
/// topic's registered schema. Only allowed columns are read, PII columns are masked, and a value
/// that does not fit its field's type is refused with the reason, never coerced.
/// </summary>
public sealed class ChangeRecords(Masking masking)
{
    public (GenericRecord? Record, string? Rejection) Build(
        RecordSchema envelope, RowChange change, CdcConnectorState connector, DateTimeOffset now)
    {
        var table = connector.Table(change.Table);
        if (table is null) return (null, $"table '{change.Table}' is not allowed for connector '{connector.Id}'");
        if (!envelope.TryGetField("after", out var afterField) || RowSchema(afterField.Schema) is not { } rowSchema)
            return (null, "the registered schema has no 'after' record field");

        var record = new GenericRecord(envelope);
        string? rejection = null;
        GenericRecord? Row(IReadOnlyDictionary<string, string?>? values)
        {
            if (values is null || rejection is not null) return null;
            var row = new GenericRecord(rowSchema);
            foreach (var field in rowSchema.Fields)
            {
                var allowed = table.Columns.Contains(field.Name);
                if (!allowed || !values.TryGetValue(field.Name, out var text))
                {
                    if (field.DefaultValue is null && !Nullable(field.Schema))
                    {
                        rejection = $"field '{field.Name}' is required by the registered schema but the change has no allowed column '{field.Name}'";
                        return null;
                    }
                    row.Add(field.Name, null);
                    continue;
                }
                if (text is not null && table.Masking.TryGetValue(field.Name, out var rule))
                    text = System.Convert.ToString(masking.Apply(rule, text), CultureInfo.InvariantCulture);
                var (value, problem) = ToAvro(field, text);
                if (problem is not null)
                {
                    rejection = problem;
                    return null;
                }
                row.Add(field.Name, value);
            }
            return row;
        }

        var before = Row(change.Before);
        var after = Row(change.After);
        if (rejection is not null) return (null, rejection);
        record.Add("before", before);
        record.Add("after", after);
        record.Add("op", change.Op);
        if (envelope.TryGetField("source", out var sourceField) && sourceField.Schema is RecordSchema sourceSchema)
        {
            var source = new GenericRecord(sourceSchema);
            source.Add("connector", connector.Id);
            source.Add("db", connector.SourceDatabase);
            source.Add("schema", change.Schema);
            source.Add("table", change.Table);
            source.Add("lsn", change.Lsn);
            source.Add("tx_id", change.TxId);
            source.Add("ts_ms", change.CommittedAt.ToUnixTimeMilliseconds());
            record.Add("source", source);
        }
        record.Add("ts_ms", now.ToUnixTimeMilliseconds());
        return (record, null);
    }

    public object? Mask(string rule, string value) => masking.Apply(rule, value);

    /// <summary>A JSON column value as PostgreSQL's text output would give it (booleans as t/f), for rows read as JSON.</summary>
    public static string? Text(System.Text.Json.JsonElement value) => value.ValueKind switch
    {
        System.Text.Json.JsonValueKind.Null => null,
        System.Text.Json.JsonValueKind.String => value.GetString(),
        System.Text.Json.JsonValueKind.True => "t",
        System.Text.Json.JsonValueKind.False => "f",
        _ => value.GetRawText()
    };

    /// <summary>Consumers drop repeats after a crash by this key plus source.lsn.</summary>
    public static string Key(RowChange change, CdcTable table)
    {
        var values = change.After ?? change.Before ?? new Dictionary<string, string?>();
        return $"{change.Table}:{string.Join(",", table.Key.Select(k => values.GetValueOrDefault(k) ?? ""))}";
    }

    private static RecordSchema? RowSchema(Schema schema) => schema switch
    {
        RecordSchema r => r,
        UnionSchema u => u.Schemas.OfType<RecordSchema>().FirstOrDefault(),
        _ => null
    };

    private static bool Nullable(Schema schema) => schema is UnionSchema u && u.Schemas.Any(s => s.Tag == Schema.Type.Null);

    private static (object? Value, string? Problem) ToAvro(Field field, string? text)
    {
        var schema = field.Schema;
        if (text is null)
            return Nullable(schema) ? (null, null) : (null, $"field '{field.Name}' is not nullable in the registered schema but the column is null");
        if (schema is UnionSchema union)
            schema = union.Schemas.First(s => s.Tag != Schema.Type.Null);
        var invariant = CultureInfo.InvariantCulture;
        object? value = schema.Tag switch
        {
            Schema.Type.String => text,
            Schema.Type.Long => long.TryParse(text, NumberStyles.Integer, invariant, out var l) ? l : null,
            Schema.Type.Int => int.TryParse(text, NumberStyles.Integer, invariant, out var i) ? i : null,
            Schema.Type.Double => double.TryParse(text, NumberStyles.Float, invariant, out var d) ? d : null,
            Schema.Type.Float => float.TryParse(text, NumberStyles.Float, invariant, out var f) ? f : null,
            Schema.Type.Boolean => text switch { "t" or "true" => true, "f" or "false" => false, _ => null },
            _ => null
        };
        return value is null
            ? (null, $"column '{field.Name}' value '{Shorten(text)}' does not fit the registered type {schema.Tag.ToString().ToLowerInvariant()}")
            : (value, null);
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
