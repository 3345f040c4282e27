namespace GovernanceLedger.Warehouse;

/// <summary>
/// Whether a curated export's definition lets PII leave its source: every column the catalog tags PII at the source (in any
/// dataset there) may appear only inside a SHA-2 hash, anywhere in the statement (select list, filters, joins, CTEs,
/// subqueries), since a PII value tested in a CASE or a filter leaves one bit at a time. A '*' and a whole-row reference
/// cannot be checked column by column, so they are refused too. Run before an export reads anything.
/// </summary>
public static class SanitizingCheck
{
    /// <summary>
    /// The functions an export may call: hashing, encoding, text and date shaping, and aggregates. Anything else (settings,
    /// functions that run SQL from a string or dump a table, user functions) could carry a value past the check.
    /// Operators (||, +, comparisons) are allowed: they compute, they cannot reach anything.
    /// </summary>
    public static readonly IReadOnlySet<string> AllowedFunctions = new HashSet<string>(StringComparer.Ordinal)
    {
        "sha224", "sha256", "sha384", "sha512", "encode", "convert_to", "lower", "upper", "trim", "btrim", "ltrim", "rtrim", "coalesce",
        "nullif", "min", "max", "count", "count_star", "sum", "avg", "date_trunc", "date_part", "extract", "length", "char_length",
        "round", "floor", "ceil", "ceiling", "abs", "greatest", "least", "left", "right", "substring", "substr", "concat", "concat_ws",
        "replace", "split_part", "to_char", "date", "make_date", "now", "current_date", "bool_and", "bool_or", "string_agg", "array_agg"
    };

    public static IReadOnlyList<string> Findings(SqlShape? shape, string? parseError, IReadOnlySet<string> piiColumns)
    {
        if (shape is null) return [$"The definition's SQL is not one SELECT statement: {parseError}"];
        var findings = new List<string>();
        foreach (var function in shape.Functions.Distinct())
        {
            var (schema, name) = function.LastIndexOf('.') is > 0 and var dot ? (function[..dot], function[(dot + 1)..]) : ("", function);
            var isOperator = name.All(c => !char.IsLetterOrDigit(c) && c != '_');
            if (!isOperator && (!AllowedFunctions.Contains(name) || schema is not ("" or "pg_catalog")))
                findings.Add($"{function}() is not a function an export may call ({string.Join(", ", AllowedFunctions.Order())}).");
        }
        if (shape.ColumnAliases)
            findings.Add("A column alias list (t(a, b)) renames columns without naming them: alias each column in the select list instead.");
        if (shape.PositionalColumns)
            findings.Add("Columns are named, not numbered (#1).");
        if (shape.Star)
            findings.Add("'*' selects columns without naming them: name each column, so that its PII tags can be checked.");
        if (shape.TableFunctions.Count > 0)
            findings.Add($"Table functions ({string.Join(", ", shape.TableFunctions)}) are not sources an export may read.");
        if (shape.PositionalParameters || shape.Parameters.Count > 0)
            findings.Add("An export's definition takes no parameters.");
        foreach (var use in shape.Columns)
        {
            var written = string.Join('.', use.Names);
            if (piiColumns.Contains(use.Column) && use.Hash is null)
                findings.Add($"{written} is PII and is read without a SHA-2 hash around it ({string.Join(", ", SqlShape.HashFunctions)}).");
            else if (use.Names.Count == 1 && shape.RelationNames.Contains(use.Column))
                findings.Add($"{written} reads a whole row of a table: name its columns instead.");
        }
        return findings.Distinct().ToList();
    }
}
