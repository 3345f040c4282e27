using System.Text;
using System.Text.Json.Nodes;
using Avro.Generic;
using Confluent.SchemaRegistry;
using GovernanceLedger.Contracts.Streaming;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

[Collection(StreamingCollection.Name)]
public sealed class Cdc_tests(StreamingFixture ledger)
{
    public static long OrderId(GenericRecord envelope) =>
        (long)((GenericRecord)(envelope["after"] ?? envelope["before"]))["order_id"];

    /// <summary>Edits the Order record's field list inside the envelope schema.</summary>
    private static string EditOrder(string schema, Action<JsonArray> edit)
    {
        var root = JsonNode.Parse(schema)!;
        var before = root["fields"]!.AsArray().Single(f => f!["name"]!.GetValue<string>() == "before")!;
        var order = before["type"]!.AsArray().Single(t => t is JsonObject)!;
        edit(order["fields"]!.AsArray());
        return root.ToJsonString();
    }

    [Fact]
    public async Task Insert_update_and_delete_in_salesdb_arrive_on_sales_events_as_avro_with_pii_masked()
    {
        await ledger.OrdersConnector();
        await ledger.Sql("""
            insert into orders (order_id, customer_email, region, product, amount) values (9001, 'carol@example.com', 'EMEA', 'widget', 125.50);
            update orders set status = 'shipped', amount = 130.25 where order_id = 9001;
            delete from orders where order_id = 9001;
            """);

        var messages = await ledger.ReadAvroAsync(StreamingScenarios.SalesTopic, r => r.Count(m => OrderId(m.Message.Value) == 9001) >= 3);
        var mine = messages.Where(m => OrderId(m.Message.Value) == 9001).Select(m => m.Message).ToList();
        mine.Select(m => (string)m.Value["op"]).ShouldBe(["c", "u", "d"]);
        mine.ShouldAllBe(m => m.Key == "orders:9001");

        var inserted = (GenericRecord)mine[0].Value["after"];
        inserted["customer_email"].ShouldBe("c***@example.com");
        inserted["amount"].ShouldBe(125.50);
        mine[0].Value["before"].ShouldBeNull();
        var updated = mine[1].Value;
        ((GenericRecord)updated["before"])["status"].ShouldBe("placed");
        ((GenericRecord)updated["after"])["status"].ShouldBe("shipped");
        ((GenericRecord)updated["after"])["customer_email"].ShouldBe("c***@example.com");
        mine[2].Value["after"].ShouldBeNull();
        ((GenericRecord)mine[2].Value["before"])["amount"].ShouldBe(130.25);
        var source = (GenericRecord)mine[0].Value["source"];
        source["table"].ShouldBe("orders");
        source["connector"].ShouldBe("salesdb-orders");
        ((string)source["lsn"]).ShouldContain("/");
        // Nothing on the topic carries the clear e-mail address.
        messages.ShouldAllBe(m => !m.Message.Value.ToString()!.Contains("carol@example.com"));
        // The worker counts a transaction once the brokers acknowledged it, which may be just after a consumer saw it.
        await LedgerFixture.EventuallyAsync(async () =>
        {
            var metrics = (await ledger.Get("/metrics", LedgerFixture.ScrapeToken)).Text;
            return metrics.Contains("connector=\"salesdb-orders\",outcome=\"published\"") && metrics.Contains("audit_stream_events_total");
        }, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_compatible_column_flows_and_a_type_change_is_refused_with_409_and_its_events_dead_lettered()
    {
        await ledger.OrdersConnector();
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        using var registry = ledger.RegistryClient(admin);
        var subject = "sales.events.v1-value";
        var current = await registry.GetLatestSchemaAsync(subject);
        var withChannel = EditOrder(current.SchemaString, fields =>
            fields.Add(new JsonObject { ["name"] = "channel", ["type"] = new JsonArray("null", "string"), ["default"] = null }));
        var evolved = await registry.RegisterSchemaAsync(subject, new Schema(withChannel, SchemaType.Avro));
        evolved.ShouldBeGreaterThan(current.Id);
        // The connector re-reads the subject's latest version at most once a second: wait until it sees the new one.
        var avro = ledger.Host.Services.GetRequiredService<GovernanceLedger.Streaming.Kafka.AvroTopics>();
        await ledger.Eventually(async () => (await avro.LatestAsync(StreamingScenarios.SalesTopic)).ToString().Contains("\"channel\""), TimeSpan.FromSeconds(15));

        await ledger.Sql("""
            alter table orders add column if not exists channel text;
            insert into orders (order_id, customer_email, region, product, amount, channel) values (9101, 'dan@example.com', 'NA', 'gadget', 10, 'web');
            """);
        var flowed = await ledger.ReadAvroAsync(StreamingScenarios.SalesTopic, r => r.Any(m => OrderId(m.Message.Value) == 9101));
        ((GenericRecord)flowed.Single(m => OrderId(m.Message.Value) == 9101).Message.Value["after"])["channel"].ShouldBe("web");

        // amount: double -> string cannot read earlier data, so BACKWARD refuses it.
        var retyped = EditOrder(withChannel, fields =>
            fields.Single(f => f!["name"]!.GetValue<string>() == "amount")!["type"] = new JsonArray("null", "string"));
        var refused = await Should.ThrowAsync<SchemaRegistryException>(() => registry.RegisterSchemaAsync(subject, new Schema(retyped, SchemaType.Avro)));
        refused.Status.ShouldBe(System.Net.HttpStatusCode.Conflict);
        refused.Message.ShouldContain("field 'before.amount' changed type from null|double to null|string");

        await ledger.Sql("""
            alter table orders alter column amount type text using amount::text;
            insert into orders (order_id, customer_email, region, product, amount) values (9102, 'erin@example.com', 'APAC', 'service', 'about forty');
            alter table orders alter column amount type numeric(12,2) using case when amount ~ '^[0-9.]+$' then amount::numeric else 0 end;
            """);
        var dead = await ledger.ReadRawAsync("sales.events.v1.dlq", r => r.Any(m => m.Message.Key == "orders:9102"));
        var letter = JsonNode.Parse(Encoding.UTF8.GetString(dead.First(m => m.Message.Key == "orders:9102").Message.Value))!;
        letter["reason"]!.GetValue<string>().ShouldContain("column 'amount' value 'about forty' does not fit the registered type double");
        letter["after"]!["customer_email"]!.GetValue<string>().ShouldBe("e***@example.com");

        await using var session = ledger.Host.Services.GetRequiredService<IDocumentStore>().QuerySession();
        var rejected = await session.Events.QueryRawEventDataOnly<CdcEventRejected>().ToListAsync();
        rejected.ShouldContain(r => r.ConnectorId == "salesdb-orders" && r.DeadLetterTopic == "sales.events.v1.dlq" && r.Reason.Contains("amount"));
        var registered = await session.Events.QueryRawEventDataOnly<SchemaRegistered>().ToListAsync();
        registered.ShouldContain(r => r.Subject == subject && r.SchemaId == evolved && r.Actor == $"person:{Admin}");
        (await session.Events.QueryRawEventDataOnly<SchemaRejected>().ToListAsync()).ShouldContain(r => r.Subject == subject && r.Reason.Contains("amount"));
        (await ledger.ReadAvroAsync(StreamingScenarios.SalesTopic, r => false, TimeSpan.FromSeconds(2)))
            .ShouldNotContain(m => OrderId(m.Message.Value) == 9102);
    }

    [Fact]
    public async Task The_connector_resumes_from_its_stored_lsn_after_a_restart_without_losing_changes()
    {
        await ledger.OrdersConnector();
        await ledger.Sql("insert into orders (order_id, customer_email, region, product, amount) values (9201, 'fay@example.com', 'EMEA', 'widget', 1);");
        await ledger.ReadAvroAsync(StreamingScenarios.SalesTopic, r => r.Any(m => OrderId(m.Message.Value) == 9201));

        await ledger.RestartAsync();
        // Committed while no connector ran: the slot keeps them until the restarted connector confirms them.
        await ledger.Sql("insert into orders (order_id, customer_email, region, product, amount) values (9202, 'gus@example.com', 'NA', 'gadget', 2);");
        await ledger.Sql("update orders set status = 'paid' where order_id = 9201;");

        var all = await ledger.ReadAvroAsync(StreamingScenarios.SalesTopic,
            r => r.Any(m => OrderId(m.Message.Value) == 9202) && r.Count(m => OrderId(m.Message.Value) == 9201) >= 2);
        all.Count(m => OrderId(m.Message.Value) == 9202).ShouldBe(1);
        all.Where(m => OrderId(m.Message.Value) == 9201).Select(m => (string)m.Message.Value["op"]).ShouldBe(["c", "u"]);
    }

    [Fact]
    public async Task Debezium_events_from_kafka_connect_go_through_the_same_connector_masking_and_schema()
    {
        await ledger.OrdersConnector();
        using var producer = new Confluent.Kafka.ProducerBuilder<string, string>(new Confluent.Kafka.ProducerConfig { BootstrapServers = ledger.Kafka.BootstrapServers }).Build();
        await producer.ProduceAsync(StreamingFixture.DebeziumTopic, new Confluent.Kafka.Message<string, string>
        {
            Key = "9401",
            Value = """
                {"schema":null,"payload":{"before":null,
                 "after":{"order_id":9401,"customer_email":"ivy@example.com","region":"NA","product":"gadget","amount":42.5,"status":"placed","internal_note":"never published"},
                 "op":"c","source":{"connector":"postgresql","db":"salesdb","schema":"public","table":"orders","lsn":"123456","txId":77,"ts_ms":1790000000000},"ts_ms":1790000000100}}
                """
        });
        // After the fixture's host restarts, the listener's group may first wait out the old member's session.
        var messages = await ledger.ReadAvroAsync(StreamingScenarios.SalesTopic, r => r.Any(m => OrderId(m.Message.Value) == 9401), TimeSpan.FromSeconds(60));
        var change = messages.Single(m => OrderId(m.Message.Value) == 9401).Message;
        change.Key.ShouldBe("orders:9401");
        var after = (GenericRecord)change.Value["after"];
        after["customer_email"].ShouldBe("i***@example.com");
        after["amount"].ShouldBe(42.5);
        change.Value.ToString()!.ShouldNotContain("never published");
        ((GenericRecord)change.Value["source"])["lsn"].ShouldBe("123456");
    }
}
