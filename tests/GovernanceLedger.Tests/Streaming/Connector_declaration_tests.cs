using System.Text.Json.Nodes;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

[Collection(StreamingCollection.Name)]
public sealed class Connector_declaration_tests(StreamingFixture ledger)
{
    private static JsonObject Declaration(string table, params string[] columns) => new()
    {
        ["connector_id"] = "attack-probe",
        ["source"] = "SalesDb",
        ["dataset"] = "orders",
        ["target_topic"] = StreamingScenarios.SalesTopic,
        ["tables"] = new JsonArray(new JsonObject { ["table"] = table, ["key"] = Strings("order_id"), ["columns"] = Strings(columns) })
    };

    [Fact]
    public async Task Only_a_platform_admin_declares_connectors()
    {
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var refused = await ledger.Post("/cdc/connectors", Declaration("orders", "order_id").ToJsonString(), owner);
        refused.Status.ShouldBe(403);
        (await ledger.Post("/cdc/connectors", Declaration("orders", "order_id").ToJsonString(), null)).Status.ShouldBe(401);
    }

    [Fact]
    public async Task Columns_outside_the_curated_dataset_and_injected_table_names_are_refused_and_nothing_is_declared()
    {
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var outside = await ledger.Post("/cdc/connectors", Declaration("orders", "order_id", "password_hash").ToJsonString(), admin);
        outside.Status.ShouldBe(400);
        outside.Text.ShouldContain("column 'password_hash' is not a field of dataset 'orders'");

        var injected = await ledger.Post("/cdc/connectors", Declaration("orders; drop table orders", "order_id").ToJsonString(), admin);
        injected.Status.ShouldBe(400);
        injected.Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("tables[0].table");

        var unknownSource = await ledger.Post("/cdc/connectors", Declaration("orders", "order_id").With("source", "Ledger2").ToJsonString(), admin);
        unknownSource.Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("source");
        (await ledger.StreamOf("cdc-connector:attack-probe")).Select(e => e.Data).OfType<GovernanceLedger.Contracts.Streaming.CdcConnectorDeclared>().ShouldBeEmpty();
    }

    [Fact]
    public async Task A_connector_to_a_topic_that_was_never_provisioned_is_refused()
    {
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var refused = await ledger.Post("/cdc/connectors", Declaration("orders", "order_id").With("target_topic", "crm.updates.v9").ToJsonString(), admin);
        refused.Status.ShouldBe(409, refused.Text);
        refused.Text.ShouldContain("has not been provisioned");
    }
}

[Collection(StreamingCollection.Name)]
public sealed class Connector_retirement_tests(StreamingFixture ledger)
{
    private async Task<bool> SlotExistsAsync(string prefix)
    {
        await using var connection = new Npgsql.NpgsqlConnection(ledger.SalesConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("select count(*) from pg_replication_slots where slot_name like $1 and database = current_database()", connection)
            { Parameters = { new() { Value = prefix + "%" } } };
        return (long)(await command.ExecuteScalarAsync())! > 0;
    }

    [Fact]
    public async Task Retiring_a_connector_drops_its_slot_and_publication_and_is_recorded()
    {
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        (await ledger.Post("/topics/requests", """{"topic":"crm.updates.v2","partitions":2,"retention_days":7,"purpose":"customer changes"}""", admin)).Status
            .ShouldBeOneOf(201, 409);   // provisioned once per run
        var declared = await ledger.Post("/cdc/connectors", """
            {"connector_id":"crm-customers","source":"SalesDb","dataset":"customers","target_topic":"crm.updates.v2",
             "tables":[{"table":"customers","key":["customer_id"],"columns":["customer_id","name","email","phone","region","segment"]}]}
            """, admin);
        declared.Status.ShouldBe(201, declared.Text);
        declared.Json!["tables"]![0]!["masking"]!["email"]!.GetValue<string>().ShouldBe("partial");
        (await SlotExistsAsync("govledger_crm_customers_")).ShouldBeTrue();

        // A new slot starts with a snapshot: every existing customer arrives once as a read, PII masked.
        var snapshot = await ledger.ReadAvroAsync("crm.updates.v2", r => r.Count(m => (string)m.Message.Value["op"] == "r") >= 300);
        var reads = snapshot.Where(m => (string)m.Message.Value["op"] == "r").Select(m => (Avro.Generic.GenericRecord)m.Message.Value["after"]).ToList();
        reads.Select(r => (long)r["customer_id"]).Distinct().Count().ShouldBe(300);
        reads.ShouldAllBe(r => ((string)r["email"]).Contains("***@example.com") && ((string)r["phone"]).StartsWith("*** "));

        (await ledger.Send(HttpMethod.Delete, "/cdc/connectors/crm-customers", null, admin)).Status.ShouldBe(400, "a reason is required");
        (await ledger.Send(HttpMethod.Delete, "/cdc/connectors/crm-customers?reason=x", null, await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(403);
        var retired = await ledger.Send(HttpMethod.Delete, "/cdc/connectors/crm-customers?reason=crm+moved+to+its+own+database", null, admin);
        retired.Status.ShouldBe(200, retired.Text);
        (await SlotExistsAsync("govledger_crm_customers_")).ShouldBeFalse();
        (await ledger.Get("/cdc/connectors", admin)).Text.ShouldNotContain("crm-customers");
        (await ledger.StreamOf("cdc-connector:crm-customers")).Select(e => e.Data.GetType().Name).ShouldBe(["CdcConnectorDeclared", "CdcConnectorRetired"]);
        (await ledger.Send(HttpMethod.Delete, "/cdc/connectors/crm-customers?reason=again", null, admin)).Status.ShouldBe(404);
    }
}
