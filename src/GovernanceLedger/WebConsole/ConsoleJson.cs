using System.Text.Json.Nodes;

namespace GovernanceLedger.WebConsole;

/// <summary>Reading the API's JSON answers in the console's pages: a field's text, or its number, or nothing.</summary>
public static class ConsoleJson
{
    /// <summary>A string field as it is; any other value as its JSON; an absent field as "".</summary>
    public static string Text(JsonNode? node, string field) =>
        node?[field] is JsonValue v ? (v.TryGetValue<string>(out var s) ? s : v.ToJsonString()) : "";

    /// <summary>
    /// A ledger event's field whatever its casing: events keep their members' names as written ("Decision", "AppId"), and
    /// the pages ask for "decision" or "app_id".
    /// </summary>
    public static string EventText(JsonNode? data, string field) =>
        data is JsonObject fields && fields.FirstOrDefault(f => SameName(f.Key, field)).Value is JsonValue v
            ? (v.TryGetValue<string>(out var s) ? s : v.ToJsonString()) : "";

    /// <summary>A ledger event's array field whatever its casing, or null.</summary>
    public static JsonArray? EventArray(JsonNode? data, string field) =>
        data is JsonObject fields ? fields.FirstOrDefault(f => SameName(f.Key, field)).Value as JsonArray : null;

    /// <summary>A ledger event's object field whatever its casing, or null.</summary>
    public static JsonObject? EventObject(JsonNode? data, string field) =>
        data is JsonObject fields ? fields.FirstOrDefault(f => SameName(f.Key, field)).Value as JsonObject : null;

    private static bool SameName(string key, string field) =>
        string.Equals(key.Replace("_", ""), field.Replace("_", ""), StringComparison.OrdinalIgnoreCase);

    public static double Number(JsonNode? node, string field) => node?[field] is JsonValue v && v.TryGetValue<double>(out var d) ? d : 0;
}
