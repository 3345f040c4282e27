using GovernanceLedger.Infrastructure;
using GovernanceLedger.Streaming.AuditStream;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GovernanceLedger.Tests.Streaming;

[Collection(StreamingCollection.Name)]
public sealed class Audit_stream_tests(StreamingFixture ledger)
{
    [Fact]
    public async Task The_audit_stream_carries_the_ledger_in_order_across_a_host_restart_with_no_gap()
    {
        await ledger.ActiveApp("audit-before");
        await ledger.AssertAuditTopicMatchesLedgerAsync();

        await ledger.RestartAsync();
        for (var i = 0; i < 5; i++) await ledger.ActiveApp("audit-after");
        await ledger.AssertAuditTopicMatchesLedgerAsync();
    }

    [Fact]
    public async Task Chargeback_records_price_every_billable_access_at_the_rate_card()
    {
        var app = await ledger.DataApp("charged");
        var token = await ledger.AppToken(app);
        for (var i = 0; i < 3; i++)
            (await ledger.Post("/data/sales_data/query", """{"fields":["order_id","amount"],"limit":5}""", token)).Status.ShouldBe(200);
        await ledger.WaitForAuditRelayAsync();
        var lines = await ledger.ReadAvroAsync("chargeback.v1", r => r.Count(m => m.Message.Key == app) >= 3);
        var mine = lines.Where(m => m.Message.Key == app).Select(m => m.Message.Value).ToList();
        // A served query is one event, so one line: the request and the rows it read.
        mine.Count.ShouldBe(3);
        mine.ShouldAllBe(l => (string)l["kind"] == "query" && (long)l["requests"] == 1 && (long)l["rows"] == 5 && (long)l["bytes"] > 0);
        // 0.0002 EUR a request, 0.000001 a row, 0.02 per MB served, 0.004 per second of query time.
        foreach (var line in mine)
            decimal.Parse((string)line["amount"], System.Globalization.CultureInfo.InvariantCulture)
                .ShouldBe(0.0002m + 5 * 0.000001m + (long)line["bytes"] / 1_000_000m * 0.02m + (decimal)(double)line["compute_ms"] / 1000m * 0.004m, 0.000000001m);
    }
}
