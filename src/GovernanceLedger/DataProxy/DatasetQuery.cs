using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using NpgsqlTypes;

namespace GovernanceLedger.DataProxy;

/// <summary>One filter clause as the app sent it: a known field, an operator from a fixed set, values.</summary>
public sealed record Clause(string Field, string Op, IReadOnlyList<JsonElement> Values);

/// <summary>
/// A dataset query parsed and checked against the dataset's declared columns. Apps never send SQL:
/// identifiers come only from the catalog and every value is a parameter.
/// </summary>
public sealed record DatasetQuery(IReadOnlyList<string> Fields, IReadOnlyList<Clause> Filter, IReadOnlyList<(string Field, bool Descending)> OrderBy, int Limit)
{
    public static readonly string[] Operators = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "prefix", "is_null", "not_null"];

    public static (DatasetQuery? Query, IReadOnlyList<Violation> Violations) Parse(JsonObject body, DatasetEntry dataset, int maxRows)
    {
        var violations = new List<Violation>();
        var known = dataset.Fields.ToHashSet(StringComparer.Ordinal);
        foreach (var key in body.Select(p => p.Key).Where(k => k is not ("fields" or "filter" or "order_by" or "limit")))
            violations.Add(new Violation(key, "additionalProperties", $"'{key}' is not a query member (fields, filter, order_by, limit)"));

        var fields = new List<string>();
        if (body["fields"] is JsonArray requested)
        {
            for (var i = 0; i < requested.Count; i++)
            {
                if (requested[i] is JsonValue v && v.TryGetValue<string>(out var f) && known.Contains(f)) fields.Add(f);
                else violations.Add(new Violation($"fields[{i}]", "known-field", $"Not a field of {dataset.Name}; known: {string.Join(", ", dataset.Fields)}"));
            }
        }
        else if (body["fields"] is null) fields.AddRange(dataset.Fields);
        else violations.Add(new Violation("fields", "type", "fields must be an array of field names"));
        if (fields.Count == 0 && violations.Count == 0) violations.Add(new Violation("fields", "minItems", "Ask for at least one field."));

        var clauses = new List<Clause>();
        if (body["filter"] is JsonArray filter)
        {
            for (var i = 0; i < filter.Count; i++)
            {
                if (filter[i] is not JsonObject term)
                {
                    violations.Add(new Violation($"filter[{i}]", "type", "Each filter clause is an object {field, op, value}."));
                    continue;
                }
                var field = term["field"] is JsonValue fv && fv.TryGetValue<string>(out var fs) ? fs : null;
                // A missing op means eq; an op of any other type is an error, never silently eq.
                string? op = term["op"] switch
                {
                    null => "eq",
                    JsonValue ov when ov.GetValueKind() == JsonValueKind.String => ov.GetValue<string>(),
                    _ => null
                };
                if (op is null)
                {
                    violations.Add(new Violation($"filter[{i}].op", "type", $"op must be a string, one of {string.Join(", ", Operators)}."));
                    continue;
                }
                if (field is null || !known.Contains(field))
                    violations.Add(new Violation($"filter[{i}].field", "known-field", $"Not a field of {dataset.Name}."));
                if (!Operators.Contains(op))
                    violations.Add(new Violation($"filter[{i}].op", "enum", $"Operators are {string.Join(", ", Operators)}."));
                var values = op switch
                {
                    "is_null" or "not_null" => [],
                    "in" when term["value"] is JsonArray list && list.Count is > 0 and <= 100 => list.Select(ToElement).ToList(),
                    "in" => null,
                    _ when term["value"] is JsonValue scalar && scalar.GetValueKind() is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False
                        => [ToElement(scalar)],
                    _ => null
                };
                if (values is null)
                    violations.Add(new Violation($"filter[{i}].value", "type", op == "in"
                        ? "'in' takes an array of 1 to 100 strings or numbers."
                        : "value must be a string, number or boolean."));
                if (values is not null && values.Any(v => v.ValueKind is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False)))
                    violations.Add(new Violation($"filter[{i}].value", "type", "values must be strings, numbers or booleans."));
                if (op == "prefix" && values is [{ ValueKind: not JsonValueKind.String }])
                    violations.Add(new Violation($"filter[{i}].value", "type", "'prefix' takes a string."));
                if (field is not null && known.Contains(field) && Operators.Contains(op) && values is not null)
                    clauses.Add(new Clause(field, op, values));
            }
        }
        else if (body["filter"] is not null) violations.Add(new Violation("filter", "type", "filter must be an array of {field, op, value}"));

        var order = new List<(string, bool)>();
        if (body["order_by"] is JsonArray orderBy)
        {
            for (var i = 0; i < orderBy.Count; i++)
            {
                var text = orderBy[i] is JsonValue ov && ov.TryGetValue<string>(out var os) ? os : null;
                var descending = text?.StartsWith('-') == true;
                var name = descending ? text![1..] : text;
                if (name is not null && known.Contains(name)) order.Add((name, descending));
                else violations.Add(new Violation($"order_by[{i}]", "known-field", "order_by names fields, '-' in front for descending."));
            }
        }
        else if (body["order_by"] is not null) violations.Add(new Violation("order_by", "type", "order_by must be an array of field names"));

        var limit = maxRows;
        if (body["limit"] is JsonValue lv)
        {
            if (lv.TryGetValue<int>(out var l) && l >= 1 && l <= maxRows) limit = l;
            else violations.Add(new Violation("limit", "range", $"limit must be an integer from 1 to {maxRows}."));
        }
        else if (body["limit"] is not null) violations.Add(new Violation("limit", "type", "limit must be an integer"));

        return violations.Count > 0 ? (null, violations) : (new DatasetQuery(fields, clauses, order, limit), []);
    }

    private static JsonElement ToElement(JsonNode? node) => JsonSerializer.SerializeToElement(node);

    /// <summary>The parameterised SELECT: quoted catalog identifiers, $n placeholders for every value.</summary>
    public (string Sql, IReadOnlyList<object> Parameters) ToSql(string view)
    {
        var (sql, parameters, _) = Build(view);
        return (sql, parameters);
    }

    /// <summary>
    /// The filter clauses (by index, as the app sent them) a source's type error can be about: the clause at the error's
    /// position in <see cref="ToSql"/>'s statement (1-based, as PostgreSQL reports it) when it names one; else every
    /// clause compared as a number, the only comparison that casts the field's value (a text column holding words).
    /// </summary>
    public IReadOnlyList<int> ClausesAt(string view, int position)
    {
        var (_, _, spans) = Build(view);
        for (var i = 0; i < spans.Count; i++)
            if (position - 1 >= spans[i].Start && position - 1 < spans[i].End) return [i];
        return Filter.Select((c, i) => (c, i)).Where(x => IsNumberComparison(x.c)).Select(x => x.i).ToList();
    }

    /// <summary>
    /// The filter clauses (by index) that compare a number with a field that is not one, given the view's numeric
    /// columns: what a source's type error is about, whichever of them PostgreSQL stumbled on first.
    /// </summary>
    public IReadOnlyList<int> NumbersAgainstOtherTypes(IReadOnlySet<string> numericColumns) =>
        Filter.Select((c, i) => (c, i)).Where(x => IsNumberComparison(x.c) && !numericColumns.Contains(x.c.Field)).Select(x => x.i).ToList();

    private static bool IsNumberComparison(Clause c) =>
        c.Op is "eq" or "ne" or "lt" or "lte" or "gt" or "gte" && c.Values[0].ValueKind == JsonValueKind.Number;

    private (string Sql, IReadOnlyList<object> Parameters, IReadOnlyList<(int Start, int End)> ClauseSpans) Build(string view)
    {
        var parameters = new List<object>();
        string Param(JsonElement value)
        {
            parameters.Add(value.ValueKind switch
            {
                JsonValueKind.String => value.GetString()!,
                JsonValueKind.Number => value.GetDecimal(),
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new InvalidOperationException("unsupported value")
            });
            return $"${parameters.Count}";
        }
        // Compare as text unless the value is numeric, so one operator set works across column types.
        static string Column(string field, JsonElement? value) =>
            value is { ValueKind: JsonValueKind.Number } ? $"{EphemeralCredentials.Ident(field)}::numeric" : $"{EphemeralCredentials.Ident(field)}::text";

        var sql = new StringBuilder("select ").AppendJoin(", ", Fields.Select(EphemeralCredentials.Ident));
        var (schema, name) = view.Split('.') is [var s, var n] ? (s, n) : throw new InvalidOperationException("view must be schema-qualified");
        sql.Append(" from ").Append(EphemeralCredentials.Ident(schema)).Append('.').Append(EphemeralCredentials.Ident(name));
        var where = Filter.Select(c => c.Op switch
        {
            "eq" => $"{Column(c.Field, c.Values[0])} = {Param(Text(c.Values[0]))}",
            "ne" => $"{Column(c.Field, c.Values[0])} <> {Param(Text(c.Values[0]))}",
            "lt" => $"{Column(c.Field, c.Values[0])} < {Param(Text(c.Values[0]))}",
            "lte" => $"{Column(c.Field, c.Values[0])} <= {Param(Text(c.Values[0]))}",
            "gt" => $"{Column(c.Field, c.Values[0])} > {Param(Text(c.Values[0]))}",
            "gte" => $"{Column(c.Field, c.Values[0])} >= {Param(Text(c.Values[0]))}",
            "in" => $"{EphemeralCredentials.Ident(c.Field)}::text in ({string.Join(", ", c.Values.Select(v => Param(AsString(v))))})",
            "prefix" => $"starts_with({EphemeralCredentials.Ident(c.Field)}::text, {Param(c.Values[0])})",
            "is_null" => $"{EphemeralCredentials.Ident(c.Field)} is null",
            "not_null" => $"{EphemeralCredentials.Ident(c.Field)} is not null",
            _ => throw new InvalidOperationException($"operator {c.Op}")
        }).ToList();
        var spans = new List<(int Start, int End)>(where.Count);
        for (var i = 0; i < where.Count; i++)
        {
            sql.Append(i == 0 ? " where " : " and ");
            spans.Add((sql.Length, sql.Length + where[i].Length));
            sql.Append(where[i]);
        }
        if (OrderBy.Count > 0)
            sql.Append(" order by ").AppendJoin(", ", OrderBy.Select(o => EphemeralCredentials.Ident(o.Field) + (o.Descending ? " desc" : " asc")));
        sql.Append(" limit ").Append(Limit + 1);   // one extra row tells whether the result was truncated
        return (sql.ToString(), parameters, spans);
    }

    // Booleans compare as their text form against text columns.
    private static JsonElement Text(JsonElement value) => value.ValueKind is JsonValueKind.True or JsonValueKind.False ? AsString(value) : value;

    private static JsonElement AsString(JsonElement value) => value.ValueKind == JsonValueKind.String
        ? value
        : JsonSerializer.SerializeToElement(value.ValueKind switch
        {
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => value.GetRawText()
        });

    /// <summary>
    /// The filter's shape for the ledger: values only for fields that are not PII, each cut to
    /// <see cref="AccessFieldSizes.FilterValue"/> characters (a caller's text never fills the ledger).
    /// </summary>
    public IReadOnlyList<FilterTerm> Shape(ISet<string> pii) =>
        Filter.Select(c => new FilterTerm(c.Field, c.Op,
            pii.Contains(c.Field) ? null : c.Values.Count == 0 ? null : CutValue(string.Join(",", c.Values.Select(v => v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText()))))).ToList();

    /// <summary>A filter or parameter value as the ledger keeps it: at most <see cref="AccessFieldSizes.FilterValue"/> characters.</summary>
    public static string? CutValue(string? text) => text is null || text.Length <= AccessFieldSizes.FilterValue ? text : text[..AccessFieldSizes.FilterValue];
}
