using System.Text.Json.Nodes;
using Npgsql;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

public static class StreamingScenarios
{
    public const string SalesTopic = "sales.events.v1";

    /// <summary>sales.events.v1 provisioned and a connector from salesdb.orders declared (both idempotent per run).</summary>
    public static async Task OrdersConnector(this StreamingFixture ledger)
    {
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var provisioned = await ledger.Post("/topics/requests", new JsonObject
        {
            ["topic"] = SalesTopic, ["partitions"] = 3, ["retention_days"] = 7, ["purpose"] = "order changes for sales analytics"
        }.ToJsonString(), admin);
        // Provisioned once per run: a second request for an existing topic is refused (changes go through its owner).
        provisioned.Status.ShouldBeOneOf([201, 409], provisioned.Text);
        var declared = await ledger.Post("/cdc/connectors", new JsonObject
        {
            ["connector_id"] = "salesdb-orders",
            ["source"] = "SalesDb",
            ["dataset"] = "orders",
            ["target_topic"] = SalesTopic,
            ["tables"] = new JsonArray(new JsonObject
            {
                ["table"] = "orders",
                ["key"] = Strings("order_id"),
                ["columns"] = Strings("order_id", "customer_email", "region", "product", "amount", "status", "channel")
            })
        }.ToJsonString(), admin);
        declared.Status.ShouldBe(201, declared.Text);
    }

    public static async Task Sql(this LedgerFixture ledger, string sql)
    {
        await using var connection = new NpgsqlConnection(ledger.SalesConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
