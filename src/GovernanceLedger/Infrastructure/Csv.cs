namespace GovernanceLedger.Infrastructure;

/// <summary>CSV cells for every export: quoted when needed, and never read as a formula by a spreadsheet.</summary>
public static class Csv
{
    /// <summary>
    /// A text cell starting with =, +, -, @, a tab or a carriage return is what spreadsheets run as a formula
    /// (=1+1, -2+3+cmd|' /C calc'!A0): it is written with a leading apostrophe, which shows as plain text.
    /// </summary>
    public static string Cell(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r') value = "'" + value;
        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
    }
}
