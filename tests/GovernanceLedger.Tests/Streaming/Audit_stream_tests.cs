using GovernanceLedger.Infrastructure;
using GovernanceLedger.Streaming.AuditStream;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GovernanceLedger.Tests.Streaming;

[Collection(StreamingCollection.Name)]
public sealed class Audit_stream_tests(StreamingFixture ledger)
{
    private async Task<List<long>> ChainedSequencesAsync()
    {
        var source = ledger.Host.Services.GetRequiredService<LedgerDatabase>().Source;
        await using var command = source.CreateCommand("select seq_id from ledger.chain_links order by seq_id");
        var sequences = new List<long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) sequences.Add(reader.GetInt64(0));
        return sequences;
    }

    private async Task WaitForRelayAsync()
    {
        var relay = ledger.Host.Services.GetRequiredService<AuditRelay>();
        await LedgerFixture.EventuallyAsync(async () =>
        {
            var chained = await ChainedSequencesAsync();
            return chained.Count > 0 && relay.Published >= chained[^1];
        }, TimeSpan.FromSeconds(30));
    }

    /// <summary>Every chained sequence is on the topic, and each partition carries its sequences in ascending order.</summary>
    private async Task AssertTopicMatchesLedgerAsync()
    {
        await WaitForRelayAsync();
        var chained = await ChainedSequencesAsync();
        var messages = await ledger.ReadAvroAsync("governance.audit.v1",
            r => r.Select(m => (long)m.Message.Value["sequence"]).ToHashSet().IsSupersetOf(chained), TimeSpan.FromSeconds(60));
        var seen = messages.Select(m => (long)m.Message.Value["sequence"]).ToHashSet();
        chained.Where(s => !seen.Contains(s)).ShouldBeEmpty("every chained ledger event must be on the audit topic");
        foreach (var partition in messages.GroupBy(m => m.Partition.Value))
        {
            var inOrder = partition.OrderBy(m => m.Offset.Value).Select(m => (long)m.Message.Value["sequence"]).ToList();
            // A repeat after a restart is allowed (consumers drop it by sequence); going backwards past it is not.
            inOrder.Distinct().ShouldBe(inOrder.Distinct().Order());
        }
        var sample = messages.First(m => (string)m.Message.Value["event_type"] == "app_registered").Message;
        sample.Key.ShouldBe((string)sample.Value["app_id"]);
        ((string)sample.Value["chain_link"]).Length.ShouldBe(64);
    }

    [Fact]
    public async Task The_audit_stream_carries_the_ledger_in_order_across_a_host_restart_with_no_gap()
    {
        await ledger.ActiveApp("audit-before");
        await AssertTopicMatchesLedgerAsync();

        await ledger.RestartAsync();
        for (var i = 0; i < 5; i++) await ledger.ActiveApp("audit-after");
        await AssertTopicMatchesLedgerAsync();
    }

    [Fact]
    public async Task Injected_broker_errors_delay_the_audit_stream_but_lose_nothing()
    {
        await WaitForRelayAsync();
        // Produce requests fail with retriable errors, then the only broker goes away for a while.
        ledger.Kafka.FailNextRequests(apiKey: 0, count: 12, errorCode: 7 /* REQUEST_TIMED_OUT */);
        ledger.Kafka.FailNextRequests(apiKey: 0, count: 6, errorCode: 19 /* NOT_ENOUGH_REPLICAS */);
        for (var i = 0; i < 3; i++) await ledger.ActiveApp("broker-errors");
        ledger.Kafka.SetBrokerDown(1);
        for (var i = 0; i < 3; i++) await ledger.ActiveApp("broker-down");
        await Task.Delay(1500);
        ledger.Kafka.SetBrokerUp(1);
        await AssertTopicMatchesLedgerAsync();
    }

    [Fact]
    public async Task Chargeback_records_price_every_billable_access_at_the_rate_card()
    {
        var app = await ledger.DataApp("charged");
        var token = await ledger.AppToken(app);
        for (var i = 0; i < 3; i++)
            (await ledger.Post("/data/sales_data/query", """{"fields":["order_id","amount"],"limit":5}""", token)).Status.ShouldBe(200);
        await WaitForRelayAsync();
        var lines = await ledger.ReadAvroAsync("chargeback.v1", r => r.Count(m => m.Message.Key == app) >= 6);
        var mine = lines.Where(m => m.Message.Key == app).Select(m => m.Message.Value).ToList();
        mine.Count(l => (string)l["kind"] == "request").ShouldBe(3);
        mine.Where(l => (string)l["kind"] == "query").Sum(l => (long)l["rows"]).ShouldBe(15);
        // Request lines: 0.0002 EUR each, plus 0.02 EUR per MB served.
        foreach (var line in mine.Where(l => (string)l["kind"] == "request"))
            decimal.Parse((string)line["amount"], System.Globalization.CultureInfo.InvariantCulture)
                .ShouldBe(0.0002m + (long)line["bytes"] / 1_000_000m * 0.02m);
    }
}
