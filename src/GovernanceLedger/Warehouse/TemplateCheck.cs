using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GovernanceLedger.Contracts.Warehouse;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;

namespace GovernanceLedger.Warehouse;

/// <summary>What a proposed template reads: per dataset, the columns it names; and what it answers with.</summary>
public sealed record TemplateReads(IReadOnlyDictionary<string, IReadOnlyList<string>> Columns, IReadOnlyList<string> Output);

/// <summary>
/// The rules a query template is held to before anyone reviews it, and the rules its parameters are bound by when an
/// app runs it. A template is one SELECT over curated warehouse datasets (no table functions, no file or setting
/// readers, no PII columns), with named parameters only, each declared with a type; the parse tree says all of that.
/// </summary>
public static partial class TemplateCheck
{
    public static readonly string[] Types = ["string", "integer", "number", "boolean", "date"];
    public const int MaxSqlBytes = 8 * 1024;

    /// <summary>Functions that read outside the curated tables (files, settings, other SQL) are never part of a template.</summary>
    private static bool Forbidden(string function) =>
        function.StartsWith("read_", StringComparison.Ordinal) || function.StartsWith("pragma_", StringComparison.Ordinal)
        || function.StartsWith("duckdb_", StringComparison.Ordinal)
        || function is "getenv" or "query" or "query_table" or "current_setting" or "sniff_csv" or "glob" or "set_config";

    [GeneratedRegex(@"\A[a-z][a-z0-9_]{0,39}\z")]
    private static partial Regex ParameterName();

    /// <summary>
    /// The checks the text can answer: one SELECT, named parameters only, no function that reads outside the warehouse,
    /// every parameter declared with a type and used. What the statement reads is the planner's to say (<see cref="Reads"/>).
    /// </summary>
    public static IReadOnlyList<Violation> CheckText(string? sql, IReadOnlyList<TemplateParameter> parameters, SqlShape? shape, string? parseError)
    {
        var errors = new List<Violation>();
        if (string.IsNullOrWhiteSpace(sql)) return [new("sql", "required", "sql is required: one SELECT statement.")];
        if (System.Text.Encoding.UTF8.GetByteCount(sql) > MaxSqlBytes) return [new("sql", "maxLength", $"sql is at most {MaxSqlBytes} bytes.")];
        if (shape is null) return [new("sql", "select-only", $"sql must be exactly one SELECT statement: {parseError}")];
        if (shape.TableFunctions.Count > 0)
            errors.Add(new("sql", "curated-tables", $"Table functions ({string.Join(", ", shape.TableFunctions)}) are not curated datasets."));
        foreach (var function in shape.Functions.Select(f => f.Split('.')[^1]).Where(Forbidden).Distinct())
            errors.Add(new("sql", "allowed-functions", $"{function}() reads outside the curated datasets and is not allowed in a template."));
        if (shape.PositionalParameters)
            errors.Add(new("sql", "named-parameters", "Parameters are named ($region), so each is bound by name and type."));

        var declared = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            var at = $"parameters[{i}]";
            if (p.Name is null || !ParameterName().IsMatch(p.Name)) errors.Add(new($"{at}.name", "pattern", "A parameter name is lowercase letters, digits and '_', starting with a letter."));
            else if (!declared.Add(p.Name)) errors.Add(new($"{at}.name", "unique", $"{p.Name} is declared twice."));
            if (!Types.Contains(p.Type)) errors.Add(new($"{at}.type", "enum", $"type is one of {string.Join(", ", Types)}."));
            if (p.Type == "string" && p.MaxLength is not (>= 1 and <= 1000))
                errors.Add(new($"{at}.max_length", "required", "A string parameter declares max_length, 1 to 1000."));
            if (p.Pattern is { } pattern && (p.Type != "string" || !Compiles(pattern)))
                errors.Add(new($"{at}.pattern", "regex", "pattern is a valid regular expression (at most 200 characters, no inline options), on string parameters only."));
            if (p.Enum is { } values && (p.Type != "string" || values.Count is 0 or > 100 || values.Any(v => v is null)))
                errors.Add(new($"{at}.enum", "type", "enum lists 1 to 100 strings, on string parameters only."));
            if ((p.Minimum is not null || p.Maximum is not null) && p.Type is not ("integer" or "number"))
                errors.Add(new($"{at}.minimum", "type", "minimum and maximum apply to integer and number parameters."));
        }
        foreach (var used in shape.Parameters.Where(u => !declared.Contains(u)))
            errors.Add(new("parameters", "declared", $"${used} is used in sql but not declared."));
        foreach (var unused in declared.Where(d => !shape.Parameters.Contains(d)))
            errors.Add(new("parameters", "used", $"{unused} is declared but sql does not use it."));
        return errors;
    }

    /// <summary>
    /// What the statement reads, from the warehouse's planner: only curated datasets' tables (nothing else at all), no PII
    /// column, and the columns per dataset that an app must be granted to run it.
    /// </summary>
    public static (TemplateReads? Reads, IReadOnlyList<Violation> Violations) Reads(ReadPlan plan, IReadOnlyList<DatasetEntry> warehouseDatasets)
    {
        var errors = new List<Violation>();
        var byTable = warehouseDatasets.ToDictionary(WarehouseReads.TableOf, StringComparer.Ordinal);
        foreach (var other in plan.OtherSources)
            errors.Add(new("sql", "curated-tables", $"The query reads {other}, which is not a curated warehouse dataset; templates read {string.Join(", ", byTable.Keys)}."));
        foreach (var table in plan.Tables.Keys.Where(t => !byTable.ContainsKey(t)))
            errors.Add(new("sql", "curated-tables", $"{table} is not a curated warehouse dataset; templates read {string.Join(", ", byTable.Keys)}."));
        if (plan.Tables.Count == 0 && plan.OtherSources.Count == 0)
            errors.Add(new("sql", "curated-tables", "The query reads no curated dataset."));
        var columns = plan.Tables.Where(t => byTable.ContainsKey(t.Key)).ToDictionary(t => byTable[t.Key].Name, t => t.Value, StringComparer.Ordinal);
        foreach (var (name, read) in columns)
            foreach (var pii in read.Where(byTable.Values.First(d => d.Name == name).Pii.Contains))
                errors.Add(new("sql", "no-pii", $"{name}.{pii} is PII: templates read sanitized columns only."));
        if (plan.Output.Count != plan.Output.Distinct(StringComparer.Ordinal).Count())
            errors.Add(new("sql", "unique-columns", $"The answer's columns must have distinct names: {string.Join(", ", plan.Output)}."));
        return errors.Count > 0 ? (null, errors) : (new TemplateReads(columns, plan.Output), []);
    }

    /// <summary>A value of each declared type, to plan the statement with before any app supplies one.</summary>
    public static List<KeyValuePair<string?, object?>> SampleValues(IReadOnlyList<TemplateParameter> parameters) =>
        parameters.Select(p => new KeyValuePair<string?, object?>(p.Name, p.Type switch
        {
            "integer" => (object)1L,
            "number" => 1m,
            "boolean" => true,
            "date" => new DateOnly(2000, 1, 1),
            _ => p.Enum is [var first, ..] ? first : "x"
        })).ToList();

    /// <summary>A whole-value match; a pattern that takes too long on a value refuses it.</summary>
    private static bool Matches(string value, string pattern)
    {
        try
        {
            return Regex.IsMatch(value, $"\\A(?:{pattern})\\z", RegexOptions.None, TimeSpan.FromMilliseconds(50));
        }
        catch (Exception e) when (e is RegexMatchTimeoutException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>The pattern as it is matched, anchored whole; inline options ((?x) would comment the anchor out) are not allowed.</summary>
    private static bool Compiles(string pattern)
    {
        if (pattern.Length > 200 || pattern.Contains("(?", StringComparison.Ordinal) && Regex.IsMatch(pattern, @"\(\?[imnsx-]+[:)]")) return false;
        try
        {
            _ = new Regex($"\\A(?:{pattern})\\z", RegexOptions.None, TimeSpan.FromMilliseconds(50));
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// The app's parameter values, each checked against its declaration and converted to its type. Values are only ever
    /// bound, never written into the SQL; a value that does not fit its type, length, pattern, list or range is refused.
    /// </summary>
    public static (List<KeyValuePair<string?, object?>> Values, IReadOnlyList<Violation> Violations) Bind(
        JsonObject? given, IReadOnlyList<TemplateParameter> parameters)
    {
        var errors = new List<Violation>();
        var values = new List<KeyValuePair<string?, object?>>();
        given ??= [];
        foreach (var key in given.Select(p => p.Key).Where(k => parameters.All(p => p.Name != k)))
            errors.Add(new($"parameters.{StrictJson.Bounded(key, 40)}", "additionalProperties", "The template has no such parameter."));
        foreach (var p in parameters)
        {
            var at = $"parameters.{p.Name}";
            if (given[p.Name] is not JsonValue value)
            {
                errors.Add(new(at, "required", $"{p.Name} ({p.Type}) is required."));
                continue;
            }
            object? bound = (p.Type, value.GetValueKind()) switch
            {
                ("string", JsonValueKind.String) => value.GetValue<string>(),
                ("integer", JsonValueKind.Number) when value.TryGetValue<long>(out var l) => l,
                ("number", JsonValueKind.Number) when value.TryGetValue<decimal>(out var d) => d,
                ("boolean", JsonValueKind.True or JsonValueKind.False) => value.GetValue<bool>(),
                ("date", JsonValueKind.String) when DateOnly.TryParseExact(value.GetValue<string>(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) => day,
                _ => null
            };
            if (bound is null)
            {
                errors.Add(new(at, "type", p.Type == "date" ? $"{p.Name} is a date, yyyy-MM-dd." : $"{p.Name} is a {p.Type}."));
                continue;
            }
            if (bound is string s)
            {
                if (s.Length > p.MaxLength) errors.Add(new(at, "maxLength", $"{p.Name} is at most {p.MaxLength} characters."));
                else if (p.Enum is { } allowed && !allowed.Contains(s)) errors.Add(new(at, "enum", $"{p.Name} is one of {string.Join(", ", allowed)}."));
                else if (p.Pattern is { } pattern && !Matches(s, pattern))
                    errors.Add(new(at, "pattern", $"{p.Name} must match {pattern}."));
            }
            if (bound is long or decimal)
            {
                var number = Convert.ToDecimal(bound, CultureInfo.InvariantCulture);
                if (number < p.Minimum || number > p.Maximum)
                    errors.Add(new(at, "range", $"{p.Name} is from {p.Minimum?.ToString(CultureInfo.InvariantCulture) ?? "-∞"} to {p.Maximum?.ToString(CultureInfo.InvariantCulture) ?? "∞"}."));
            }
            values.Add(new(p.Name, bound));
        }
        return (values, errors);
    }
}
