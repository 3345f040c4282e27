using System.Text.Json;
using System.Text.Json.Serialization;

namespace GovernanceLedger.Streaming.Cdc;

/// <summary>A Debezium change event as Kafka Connect writes it with the JSON converter (schemas off, or its payload).</summary>
public sealed record DebeziumChange(
    [property: JsonPropertyName("before")] Dictionary<string, JsonElement>? Before,
    [property: JsonPropertyName("after")] Dictionary<string, JsonElement>? After,
    [property: JsonPropertyName("op")] string? Op,
    [property: JsonPropertyName("source")] Dictionary<string, JsonElement>? Source,
    [property: JsonPropertyName("ts_ms")] long? TsMs,
    [property: JsonPropertyName("payload")] DebeziumChange? Payload);

/// <summary>
/// Wolverine handler for the raw Debezium topic: each change goes through the connector that allows its
/// table, with the same masking, schema check and dead-lettering as changes read from PostgreSQL directly.
/// </summary>
public class DebeziumIntakeHandler
{
    public static Task Handle(DebeziumChange change, CdcConnectors connectors, CancellationToken ct) =>
        connectors.AcceptExternalAsync(change.Payload ?? change, ct);

    public static RowChange? ToRowChange(DebeziumChange change)
    {
        string? Text(Dictionary<string, JsonElement>? map, string key) =>
            map is not null && map.TryGetValue(key, out var v) && v.ValueKind != JsonValueKind.Null ? (v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText()) : null;
        Dictionary<string, string?>? Row(Dictionary<string, JsonElement>? row) =>
            row?.ToDictionary(kv => kv.Key, kv => ChangeRecords.Text(kv.Value));
        var table = Text(change.Source, "table");
        if (table is null || change.Op is not ("c" or "u" or "d" or "r")) return null;
        var ts = long.TryParse(Text(change.Source, "ts_ms"), out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : DateTimeOffset.UtcNow;
        return new RowChange(Text(change.Source, "schema") ?? "public", table, change.Op, Row(change.Before), Row(change.After),
            Text(change.Source, "lsn") ?? "", long.TryParse(Text(change.Source, "txId"), out var tx) ? tx : null, ts);
    }
}
