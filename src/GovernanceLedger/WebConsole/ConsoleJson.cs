using System.Text.Json.Nodes;

namespace GovernanceLedger.WebConsole;

/// <summary>Reading the API's JSON answers in the console's pages: a field's text, or its number, or nothing.</summary>
public static class ConsoleJson
{
    /// <summary>A string field as it is; any other value as its JSON; an absent field as "".</summary>
    public static string Text(JsonNode? node, string field) =>
        node?[field] is JsonValue v ? (v.TryGetValue<string>(out var s) ? s : v.ToJsonString()) : "";

    public static double Number(JsonNode? node, string field) => node?[field] is JsonValue v && v.TryGetValue<double>(out var d) ? d : 0;
}
