using System.Globalization;
using System.Text.Json;
using Avro;
using Avro.Generic;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Contracts.Chargeback;
using GovernanceLedger.Projections.Chargeback;
using Marten;

namespace GovernanceLedger.Chargeback;

/// <summary>
/// The chargeback line of one ledger event: an allowed request or an executed query, priced with the rate
/// card in force on its day (the same pricing as GET /chargeback), as a `chargeback.v1` record. Other
/// events have none. Rate cards are re-read at most every ten seconds.
/// </summary>
public sealed class ChargebackLines(IDocumentStore store, TimeProvider clock)
{
    private IReadOnlyList<RateCardChanged> _cards = [];
    private DateTimeOffset _cardsRead = DateTimeOffset.MinValue;

    public async Task RefreshRateCardsAsync(CancellationToken ct)
    {
        if (clock.GetUtcNow() - _cardsRead < TimeSpan.FromSeconds(10)) return;
        await using var session = store.QuerySession();
        _cards = await RateCards.CardsAsync(session, ct);
        _cardsRead = clock.GetUtcNow();
    }

    /// <summary>The app and its priced record, or null when the event is not billable.</summary>
    public (string AppId, GenericRecord Record)? For(long sequence, string type, DateTimeOffset timestamp, JsonElement fields, RecordSchema schema)
    {
        if (Usage(type, fields) is not { } line) return null;
        var card = RateCards.InForce(_cards, line.Usage.Day);
        var record = new GenericRecord(schema);
        record.Add("sequence", sequence);
        record.Add("app_id", line.AppId);
        record.Add("day", line.Usage.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        record.Add("kind", line.Kind);
        record.Add("requests", line.Usage.Requests);
        record.Add("rows", line.Usage.Rows);
        record.Add("bytes", line.Usage.Bytes);
        record.Add("compute_ms", (double)line.Usage.ComputeMilliseconds);
        record.Add("scanned_bytes", line.Usage.ScannedBytes);
        record.Add("currency", card?.Currency ?? "");
        record.Add("amount", ReadChargeback.Price(line.Usage, card).ToString(CultureInfo.InvariantCulture));
        record.Add("occurred_at", timestamp.UtcDateTime);
        return (line.AppId, record);
    }

    private static (string AppId, UsageDay Usage, string Kind)? Usage(string type, JsonElement fields)
    {
        if (type == "access_recorded")
        {
            var e = fields.Deserialize<AccessRecorded>()!;
            if (e.Decision != AccessDecisions.Allow) return null;
            return (e.AppId, new UsageDay { AppId = e.AppId, Day = DateOnly.FromDateTime(e.At.UtcDateTime), Requests = 1, Bytes = e.BytesOut }, "request");
        }
        if (type == "accesses_recorded")
        {
            // Accesses committed together (all allowed, one app and day): one line that bills each of them.
            var e = fields.Deserialize<AccessesRecorded>()!;
            var allowed = e.Accesses.Where(a => a.Decision == AccessDecisions.Allow).ToList();
            if (allowed.Count == 0) return null;
            return (e.AppId, new UsageDay { AppId = e.AppId, Day = DateOnly.FromDateTime(e.At.UtcDateTime), Requests = allowed.Count, Bytes = allowed.Sum(a => a.BytesOut) }, "request");
        }
        if (type == "query_executed")
        {
            var e = fields.Deserialize<QueryExecuted>()!;
            // A query that carries its request bills that request too (older queries have an AccessRecorded beside them).
            return (e.AppId, new UsageDay
            {
                AppId = e.AppId, Day = DateOnly.FromDateTime(e.At.UtcDateTime), Requests = e.Request is null ? 0 : 1, Bytes = e.Request is null ? 0 : e.Bytes,
                Rows = e.Rows, ComputeMilliseconds = (decimal)e.DurationMs, ScannedRows = e.ScannedRows, ScannedBytes = e.ScannedBytes
            }, "query");
        }
        return null;
    }
}
