using System.Text.Json.Nodes;
using GovernanceLedger.Infrastructure;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>With streaming on, every read model has something in it: a rebuild restores each one exactly.</summary>
[Collection(StreamingCollection.Name)]
public sealed class Rebuild_everything_tests(StreamingFixture ledger)
{
    private async Task<List<(string Id, string Data)>> Rows(string table)
    {
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select id::text, data::text from {table} order by id::text", connection);
        var rows = new List<(string, string)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) rows.Add((reader.GetString(0), reader.GetString(1)));
        return rows;
    }

    private static Type DocumentOf(Type projection)
    {
        for (var type = projection; type is not null; type = type.BaseType)
            if (type.IsGenericType && type.GetGenericTypeDefinition().Name.Split('`')[0] is "SingleStreamProjection" or "MultiStreamProjection")
                return type.GetGenericArguments()[0];
        throw new InvalidOperationException($"{projection.Name} is not an aggregation the test knows how to compare.");
    }

    [Fact]
    public async Task A_rebuild_restores_every_read_model_the_ledger_registers_exactly_as_it_was()
    {
        await ledger.OrdersConnector();
        var appId = await ledger.ActiveApp("rebuildall");
        var reviewer = await ledger.PersonToken(SecondReviewer, "security-reviewer");
        (await ledger.Post($"/topics/{StreamingScenarios.SalesTopic}/grants", new JsonObject { ["app_id"] = appId, ["reason"] = "reports" }.ToJsonString(), reviewer))
            .Status.ShouldBe(201);

        var store = ledger.Host.Services.GetRequiredService<IDocumentStore>();
        // The document each stored projection builds (the first type argument of its aggregation base class);
        // a live projection is a write model folded on demand, with nothing stored to rebuild.
        var documents = store.Options.Events.Projections().Where(p => p.Lifecycle != JasperFx.Events.Projections.ProjectionLifecycle.Live).Select(p => DocumentOf(p.GetType())).Distinct().ToList();
        documents.Count.ShouldBeGreaterThanOrEqualTo(7);
        var tables = new List<string>();
        foreach (var document in documents)
        {
            await store.Storage.Database.EnsureStorageExistsAsync(document);
            tables.Add(store.Options.Schema.For(document));
        }
        var before = new Dictionary<string, List<(string Id, string Data)>>();
        foreach (var table in tables) before[table] = await Rows(table);
        foreach (var table in new[] { "topicentry", "topicgrant", "registrysubject", "registeredschema", "appcatalogentry" })
            before.Single(b => b.Key.EndsWith($"mt_doc_{table}")).Value.ShouldNotBeEmpty($"{table} has nothing to rebuild");

        var rebuilt = await ledger.Post("/admin/projections/rebuild", null, await ledger.PersonToken(Admin, "platform-admin"));
        rebuilt.Status.ShouldBe(200, rebuilt.Text);
        rebuilt.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.Contains("\"stage\":\"rebuilt\"")).ShouldBe(documents.Count);

        foreach (var table in tables)
        {
            var after = await Rows(table);
            after.Select(r => r.Id).ShouldBe(before[table].Select(r => r.Id), $"{table} lists other documents after the rebuild");
            foreach (var (live, again) in before[table].Zip(after))
                again.Data.ShouldBe(live.Data, $"{table} document {live.Id} differs after the rebuild");
        }
    }
}
