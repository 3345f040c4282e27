using System.Text.Json.Nodes;
using Npgsql;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Operations;

[Collection(LedgerCollection.Name)]
public sealed class Rebuild_tests(LedgerFixture ledger)
{
    private async Task<List<(string Id, string Data)>> ReadModel(string table)
    {
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select id, data::text from ledger.{table} order by id", connection);
        var rows = new List<(string, string)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) rows.Add((reader.GetString(0), reader.GetString(1)));
        return rows;
    }

    [Fact]
    public async Task Rebuilding_every_projection_from_the_events_gives_exactly_what_the_live_projections_held()
    {
        // Some state worth rebuilding: apps in several states, and data-plane usage.
        var appId = await ledger.DataApp("rebuild");
        var token = await ledger.AppToken(appId);
        (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        (await ledger.Post("/data/customers/query", """{"fields":["customer_id"],"limit":3}""", token)).Status.ShouldBe(200);
        await ledger.Register(ReviewManifest(NewAppId("rebuildpending")));
        var catalogBefore = await ReadModel("mt_doc_appcatalogentry");
        var usageBefore = await ReadModel("mt_doc_usageday");
        catalogBefore.ShouldNotBeEmpty();
        usageBefore.ShouldNotBeEmpty();

        (await ledger.Post("/admin/projections/rebuild", null, await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(403);
        var rebuilt = await ledger.Post("/admin/projections/rebuild", null, await ledger.PersonToken(Admin, "platform-admin"));
        rebuilt.Status.ShouldBe(200, rebuilt.Text);
        var progress = rebuilt.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        progress.First()["stage"]!.GetValue<string>().ShouldBe("start");
        progress.Count(p => p["stage"]!.GetValue<string>() == "rebuilt").ShouldBe(2);
        progress.Last()["stage"]!.GetValue<string>().ShouldBe("done");

        Same(catalogBefore, await ReadModel("mt_doc_appcatalogentry"));
        Same(usageBefore, await ReadModel("mt_doc_usageday"));
    }

    private static void Same(List<(string Id, string Data)> live, List<(string Id, string Data)> rebuilt)
    {
        rebuilt.Select(r => r.Id).ShouldBe(live.Select(r => r.Id));
        foreach (var (before, after) in live.Zip(rebuilt))
            after.Data.ShouldBe(before.Data, $"document {before.Id} differs after the rebuild");
    }
}
