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
        (await ledger.StreamOf("cdc-connector:attack-probe")).ShouldBeEmpty();
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
