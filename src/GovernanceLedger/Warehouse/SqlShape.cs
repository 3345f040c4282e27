using System.Text.Json.Nodes;
using DuckDB.NET.Data;

namespace GovernanceLedger.Warehouse;

/// <summary>A column reference as written (qualified or not), and the hash function it is read through, if any.</summary>
public sealed record ColumnUse(IReadOnlyList<string> Names, string? Hash)
{
    public string Column => Names[^1].ToLowerInvariant();
}

/// <summary>One column of the statement's answer: its name, the columns it is computed from, and the hash around them.</summary>
public sealed record OutputColumn(string Name, IReadOnlyList<string> DerivedFrom, string? Transform);

/// <summary>
/// What a SELECT statement reads and answers, as the warehouse's own SQL parser sees it (DuckDB's parser is PostgreSQL's
/// grammar, so it reads the sanitizing SQL run at a PostgreSQL source too). Nothing is inferred from the text: every
/// table, column, function and parameter comes from the parse tree, so spelling, comments and quoting cannot hide one.
/// </summary>
public sealed record SqlShape(
    IReadOnlyList<string> Tables, IReadOnlyList<string> TableFunctions, IReadOnlyList<string> Functions, IReadOnlyList<ColumnUse> Columns,
    IReadOnlyList<OutputColumn> Output, IReadOnlyList<string> Parameters, bool PositionalParameters, bool Star,
    IReadOnlyList<string> RelationNames, IReadOnlyList<string> CteNames, bool ColumnAliases = false, bool PositionalColumns = false)
{
    /// <summary>Hash functions a PII column may leave through: the SHA-2 family, in PostgreSQL's and DuckDB's spelling.</summary>
    public static readonly IReadOnlySet<string> HashFunctions = new HashSet<string>(StringComparer.Ordinal) { "sha224", "sha256", "sha384", "sha512" };

    private static readonly Lock Gate = new();
    private static DuckDBConnection? _parser;

    /// <summary>The statement's shape, or why it is not exactly one SELECT.</summary>
    public static (SqlShape? Shape, string? Error) Parse(string sql)
    {
        string json;
        lock (Gate)
        {
            // An in-memory database that never holds data: only its parser is used.
            _parser ??= OpenParser();
            using var command = _parser.CreateCommand();
            command.CommandText = "select json_serialize_sql($1::varchar)";
            command.Parameters.Add(new DuckDBParameter(sql));
            json = (string)command.ExecuteScalar()!;
        }
        var tree = JsonNode.Parse(json)!.AsObject();
        if (tree["error"]?.GetValue<bool>() == true)
        {
            var message = tree["error_message"]?.GetValue<string>() ?? "the statement does not parse";
            return (null, message.Contains("Only SELECT", StringComparison.Ordinal) ? "Only a SELECT statement is allowed." : message);
        }
        if (tree["statements"] is not JsonArray { Count: 1 } statements)
            return (null, "Exactly one statement is allowed.");
        var walker = new Walker();
        var root = statements[0]!.AsObject();
        walker.Walk(root, null);
        var output = OutputOf(root["node"]);
        return (new SqlShape(walker.Tables.Distinct().ToList(), walker.TableFunctions.Distinct().ToList(), walker.Functions.Distinct().ToList(),
            walker.Columns, output, walker.Parameters.Distinct().ToList(), walker.Positional, walker.Star,
            walker.Relations.Distinct().ToList(), walker.Ctes.Distinct().ToList(), walker.ColumnAliases, walker.PositionalColumns), null);
    }

    private static DuckDBConnection OpenParser()
    {
        var connection = new DuckDBConnection("DataSource=:memory:;enable_external_access=false");
        connection.Open();
        return connection;
    }

    /// <summary>The answer's columns: the select list of the statement (of its first branch, for a set operation).</summary>
    private static List<OutputColumn> OutputOf(JsonNode? node)
    {
        while (node?["type"]?.GetValue<string>() == "SET_OPERATION_NODE") node = node["left"];
        if (node?["select_list"] is not JsonArray list) return [];
        var output = new List<OutputColumn>();
        foreach (var item in list.OfType<JsonObject>())
        {
            var walker = new Walker();
            walker.Walk(item, null);
            var alias = item["alias"]?.GetValue<string>();
            var name = alias is { Length: > 0 } ? alias
                : item["class"]?.GetValue<string>() == "COLUMN_REF" ? item["column_names"]!.AsArray()[^1]!.GetValue<string>()
                : $"column{output.Count}";
            var hashes = walker.Columns.Select(c => c.Hash).Distinct().ToList();
            output.Add(new OutputColumn(name, walker.Columns.Select(c => c.Column).Distinct().ToList(), hashes is [{ } only] ? only : null));
        }
        return output;
    }

    private sealed class Walker
    {
        public readonly List<string> Tables = [], TableFunctions = [], Functions = [], Parameters = [], Relations = [], Ctes = [];
        public readonly List<ColumnUse> Columns = [];
        public bool Positional, Star, ColumnAliases, PositionalColumns;

        public void Walk(JsonNode? node, string? hash)
        {
            switch (node)
            {
                case JsonArray array:
                    foreach (var item in array) Walk(item, hash);
                    return;
                case JsonObject obj:
                    Visit(obj, hash);
                    return;
            }
        }

        private void Visit(JsonObject obj, string? hash)
        {
            var kind = obj["class"]?.GetValue<string>();
            var type = obj["type"] is JsonValue t && t.TryGetValue<string>(out var ts) ? ts : null;
            switch (kind)
            {
                case "COLUMN_REF":
                    Columns.Add(new ColumnUse(obj["column_names"]!.AsArray().Select(n => n!.GetValue<string>()).ToList(), hash));
                    return;
                case "STAR":
                    Star = true;
                    break;
                case "POSITIONAL_REFERENCE":
                    PositionalColumns = true;
                    return;
                case "PARAMETER":
                    var identifier = obj["identifier"]?.GetValue<string>() ?? "";
                    if (identifier.Length == 0 || char.IsDigit(identifier[0])) Positional = true;
                    else Parameters.Add(identifier);
                    return;
                case "FUNCTION":
                    var name = obj["function_name"]!.GetValue<string>().ToLowerInvariant();
                    var schema = obj["schema"]?.GetValue<string>().ToLowerInvariant() ?? "";
                    Functions.Add(schema.Length > 0 ? $"{schema}.{name}" : name);
                    // Only the built-in hash hashes: one qualified with another schema is whatever that schema made it.
                    var inner = HashFunctions.Contains(name) && schema is "" or "pg_catalog" ? name : hash;
                    foreach (var (key, value) in obj)
                        Walk(value, key == "children" ? inner : hash);
                    return;
            }
            switch (type)
            {
                case "BASE_TABLE":
                    var tableSchema = obj["schema_name"]?.GetValue<string>() is { Length: > 0 } s ? s.ToLowerInvariant() + "." : "";
                    var tableCatalog = obj["catalog_name"]?.GetValue<string>() is { Length: > 0 } c ? c.ToLowerInvariant() + "." : "";
                    Tables.Add(tableCatalog + tableSchema + obj["table_name"]!.GetValue<string>().ToLowerInvariant());
                    Relations.Add(obj["table_name"]!.GetValue<string>().ToLowerInvariant());
                    break;
                case "TABLE_FUNCTION":
                    TableFunctions.Add(obj["function"]?["function_name"]?.GetValue<string>() ?? "?");
                    break;
            }
            if (type is "BASE_TABLE" or "TABLE_FUNCTION" or "SUBQUERY" or "JOIN" && obj["alias"]?.GetValue<string>() is { Length: > 0 } alias)
                Relations.Add(alias.ToLowerInvariant());
            // A column alias list (t(a, b), cte(a, b)) renames columns without naming them: nothing by name can follow it.
            if (obj["column_name_alias"] is JsonArray { Count: > 0 } || obj["aliases"] is JsonArray { Count: > 0 })
                ColumnAliases = true;
            if (obj["cte_map"]?["map"] is JsonArray ctes)
                foreach (var cte in ctes.OfType<JsonObject>())
                    if (cte["key"]?.GetValue<string>() is { } cteName) Ctes.Add(cteName.ToLowerInvariant());
            foreach (var (_, value) in obj) Walk(value, hash);
        }
    }
}
