using System.Text;
using System.Text.Json;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Audit;

/// <summary>One ledger event as auditors read it; Data is the stored JSON, passed through untouched.</summary>
public sealed record AuditEvent(
    long Sequence, string Stream, long Version, string Type, DateTimeOffset RecordedAt, string? CorrelationId, RawJson Data);

/// <summary>JSON text written as-is into a response: pages of events are relayed, not re-parsed.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(RawJsonConverter))]
public sealed record RawJson(string Text)
{
    public override string ToString() => Text;
}

public sealed class RawJsonConverter : System.Text.Json.Serialization.JsonConverter<RawJson>
{
    public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return new RawJson(document.RootElement.GetRawText());
    }

    public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Text, skipInputValidation: true);
}

public sealed record AuditPage(IReadOnlyList<AuditEvent> Items, long? NextCursor);

/// <summary>
/// Renders a page of ledger events as JSON (with a cursor), NDJSON or CSV, chosen by the Accept
/// header. Pages are keyed by sequence number, so a cursor stays stable while the ledger grows.
/// </summary>
public static class AuditResults
{
    public const int DefaultLimit = 500;
    public const int MaxLimit = 5000;

    public static IResult Render(HttpContext context, AuditPage page)
    {
        var accept = context.Request.Headers.Accept.ToString();
        if (page.NextCursor is { } next) context.Response.Headers["X-Next-Cursor"] = next.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (accept.Contains("application/x-ndjson", StringComparison.OrdinalIgnoreCase))
        {
            var ndjson = new StringBuilder();
            foreach (var item in page.Items) ndjson.Append(JsonSerializer.Serialize(item, LedgerSetup.ApiJson)).Append('\n');
            return Results.Text(ndjson.ToString(), "application/x-ndjson");
        }
        if (accept.Contains("text/csv", StringComparison.OrdinalIgnoreCase))
        {
            var csv = new StringBuilder("sequence,recorded_at,stream,version,type,correlation_id,data\n");
            foreach (var e in page.Items)
                csv.Append(e.Sequence).Append(',').Append(e.RecordedAt.UtcDateTime.ToString("O")).Append(',').Append(Csv.Cell(e.Stream)).Append(',')
                    .Append(e.Version).Append(',').Append(Csv.Cell(e.Type)).Append(',').Append(Csv.Cell(e.CorrelationId ?? "")).Append(',')
                    .Append(Csv.Cell(e.Data.Text)).Append('\n');
            return Results.Text(csv.ToString(), "text/csv");
        }
        return Results.Json(page, LedgerSetup.ApiJson);
    }
}
