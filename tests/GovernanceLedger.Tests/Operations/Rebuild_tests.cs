using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using System.Text.Json.Nodes;
using Npgsql;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Operations;

[Collection(LedgerCollection.Name)]
public sealed class Rebuild_tests(LedgerFixture ledger)
{
    /// <summary>Every read model the ledger registers with Marten, counted from its own options.</summary>
    private int ReadModelCount => ledger.Host.Services.GetRequiredService<Marten.IDocumentStore>().Options.Events.Projections()
        .Count(p => p.Lifecycle != JasperFx.Events.Projections.ProjectionLifecycle.Live);

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
        progress.Count(p => p["stage"]!.GetValue<string>() == "rebuilt").ShouldBe(ReadModelCount);
        progress.Last()["stage"]!.GetValue<string>().ShouldBe("done");

        Same(catalogBefore, await ReadModel("mt_doc_appcatalogentry"));
        Same(usageBefore, await ReadModel("mt_doc_usageday"));
    }

    [Fact]
    public async Task People_keep_reading_the_live_models_during_a_rebuild_and_what_happened_meanwhile_is_in_the_new_ones()
    {
        var appId = await ledger.DataApp("bluegreen");
        var token = await ledger.AppToken(appId);
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        // A read model gone wrong, as a rebuild is meant to repair: the live row's description was changed by hand.
        await using (var connection = new NpgsqlConnection(ledger.ConnectionString))
        {
            await connection.OpenAsync();
            await using var corrupt = new NpgsqlCommand(
                "update ledger.mt_doc_appcatalogentry set data = jsonb_set(data, '{Description}', '\"changed by hand\"') where id = @id", connection);
            corrupt.Parameters.AddWithValue("id", appId);
            (await corrupt.ExecuteNonQueryAsync()).ShouldBe(1);
        }

        var rebuild = ledger.Post("/admin/projections/rebuild", null, await ledger.PersonToken(Admin, "platform-admin"));
        var registered = new List<string>();
        var allowed = 1;
        var readsDuring = 0;
        // Reads and writes go on while the rebuild runs, and at least once whatever its speed.
        do
        {
            var app = await ledger.Get($"/apps/{appId}", owner);
            app.Status.ShouldBe(200, "an owner's own app must never vanish while read models are rebuilt");
            foreach (var earlier in registered.TakeLast(2))
                (await ledger.Get($"/apps/{earlier}", owner)).Status.ShouldBe(200);
            readsDuring++;
            var another = await ledger.ActiveApp("bluegreen-new");
            registered.Add(another);
            if (allowed < 6) // within the app's quota
            {
                (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
                allowed++;
            }
        } while (!rebuild.IsCompleted);
        var rebuilt = await rebuild;
        rebuilt.Status.ShouldBe(200, rebuilt.Text);
        var stages = rebuilt.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        stages.Select(p => p["stage"]!.GetValue<string>()).ShouldContain("swapped");
        readsDuring.ShouldBeGreaterThan(0);

        // The swap put in the model derived from events: the corruption is gone, and every app registered
        // and every request served while the rebuild ran is there.
        var repaired = await ledger.Get($"/apps/{appId}", owner);
        repaired.Text.ShouldNotContain("changed by hand");
        repaired.Str("status").ShouldBe("active");
        foreach (var id in registered)
            (await ledger.Get($"/apps/{id}", owner)).Str("status").ShouldBe("active");
        await using (var connection = new NpgsqlConnection(ledger.ConnectionString))
        {
            await connection.OpenAsync();
            await using var usage = new NpgsqlCommand(
                "select coalesce(sum((data->>'Requests')::bigint), 0)::bigint from ledger.mt_doc_usageday where data->>'AppId' = @id", connection);
            usage.Parameters.AddWithValue("id", appId);
            ((long)(await usage.ExecuteScalarAsync())!).ShouldBe(allowed);
        }
    }

    [Fact]
    public async Task A_read_model_the_ledger_never_built_is_built_from_the_whole_ledger_before_the_host_serves()
    {
        var appId = await ledger.DataApp("catchup");
        (await ledger.Get("/gw/crm/contacts?limit=1", await ledger.AppToken(appId))).Status.ShouldBe(200);
        var usageBefore = await ReadModel("mt_doc_usageday");
        usageBefore.ShouldNotBeEmpty();
        // As after an upgrade that added this read model: its table is empty and it was never built.
        await using (var connection = new NpgsqlConnection(ledger.ConnectionString))
        {
            await connection.OpenAsync();
            await using var forget = new NpgsqlCommand(
                "delete from ledger.mt_doc_usageday; delete from ledger.mt_doc_readmodelbuilt where id = 'usage-per-app-per-day'", connection);
            await forget.ExecuteNonQueryAsync();
        }

        var catchUp = ledger.Host.Services.GetServices<IHostedService>().OfType<GovernanceLedger.Operations.ReadModelCatchUp>().Single();
        (await catchUp.CatchUpAsync(CancellationToken.None)).ShouldBe(["usage-per-app-per-day"]);
        Same(usageBefore, await ReadModel("mt_doc_usageday"));
        (await catchUp.CatchUpAsync(CancellationToken.None)).ShouldBeEmpty();
    }

    private static void Same(List<(string Id, string Data)> live, List<(string Id, string Data)> rebuilt)
    {
        rebuilt.Select(r => r.Id).ShouldBe(live.Select(r => r.Id));
        foreach (var (before, after) in live.Zip(rebuilt))
            after.Data.ShouldBe(before.Data, $"document {before.Id} differs after the rebuild");
    }
}
