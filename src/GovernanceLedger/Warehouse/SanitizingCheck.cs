namespace GovernanceLedger.Warehouse;

/// <summary>
/// Whether a curated export's definition lets PII leave its source: every column the catalog tags PII at the source (in any
/// dataset there) may appear only inside a SHA-2 hash, anywhere in the statement (select list, filters, joins, CTEs,
/// subqueries), since a PII value tested in a CASE or a filter leaves one bit at a time. A '*' and a whole-row reference
/// cannot be checked column by column, so they are refused too. Run before an export reads anything.
/// </summary>
public static class SanitizingCheck
{
    public static IReadOnlyList<string> Findings(SqlShape? shape, string? parseError, IReadOnlySet<string> piiColumns)
    {
        if (shape is null) return [$"The definition's SQL is not one SELECT statement: {parseError}"];
        var findings = new List<string>();
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
