namespace GovernanceLedger.Tests.Streaming;

/// <summary>
/// Broker faults injected through the mock cluster. They run on a cluster and host of their own: the mock
/// cluster forgets consumer groups when its broker goes down, which would stall other tests' listeners.
/// </summary>
[Collection(BrokerFaultCollection.Name)]
public sealed class Broker_fault_tests(BrokerFaultFixture ledger)
{
    [Fact]
    public async Task Injected_broker_errors_delay_the_audit_stream_but_lose_nothing()
    {
        await ledger.WaitForAuditRelayAsync();
        // Produce requests fail with retriable errors, then the only broker goes away for a while.
        ledger.Kafka.FailNextRequests(apiKey: 0, count: 12, errorCode: 7 /* REQUEST_TIMED_OUT */);
        ledger.Kafka.FailNextRequests(apiKey: 0, count: 6, errorCode: 19 /* NOT_ENOUGH_REPLICAS */);
        for (var i = 0; i < 3; i++) await ledger.ActiveApp("broker-errors");
        ledger.Kafka.SetBrokerDown(1);
        for (var i = 0; i < 3; i++) await ledger.ActiveApp("broker-down");
        await Task.Delay(1500);   // the outage lasts this long: a scenario setting, not a wait for anything
        ledger.Kafka.SetBrokerUp(1);
        await ledger.AssertAuditTopicMatchesLedgerAsync();
    }

    [Fact]
    public async Task Broker_errors_during_cdc_delay_changes_but_lose_none()
    {
        await ledger.OrdersConnector();
        ledger.Kafka.FailNextRequests(apiKey: 0, count: 10, errorCode: 7 /* REQUEST_TIMED_OUT */);
        await ledger.Sql("insert into orders (order_id, customer_email, region, product, amount) select i, 'x@example.com', 'EMEA', 'widget', 1 from generate_series(9501, 9520) i;");
        ledger.Kafka.SetBrokerDown(1);
        await ledger.Sql("insert into orders (order_id, customer_email, region, product, amount) select i, 'y@example.com', 'NA', 'gadget', 2 from generate_series(9521, 9540) i;");
        await Task.Delay(1500);   // the outage lasts this long: a scenario setting, not a wait for anything
        ledger.Kafka.SetBrokerUp(1);

        var messages = await ledger.ReadAvroAsync(StreamingScenarios.SalesTopic,
            r => Enumerable.Range(9501, 40).All(id => r.Any(m => Cdc_tests.OrderId(m.Message.Value) == id)), TimeSpan.FromSeconds(60));
        Enumerable.Range(9501, 40).Where(id => !messages.Any(m => Cdc_tests.OrderId(m.Message.Value) == id)).ShouldBeEmpty();
    }
}

public sealed class BrokerFaultFixture : StreamingFixture;

[CollectionDefinition(Name)]
public sealed class BrokerFaultCollection : ICollectionFixture<BrokerFaultFixture>
{
    public const string Name = "streaming-broker-faults";
}
