using System.Diagnostics;
using System.Text.Json;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Projections.Chargeback;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Operations;

/// <summary>
/// POST /admin/projections/rebuild: drops every read model and replays the whole ledger into it,
/// reporting progress as NDJSON lines while it runs. The result equals what the live projections
/// held, because read models are only ever derived from events.
/// </summary>
public static class RebuildProjections
{
    private static readonly (string Name, Type Projection, Type Document)[] ReadModels =
    [
        ("app catalog", typeof(AppCatalogProjection), typeof(AppCatalogEntry)),
        ("usage per app per day", typeof(UsageDayProjection), typeof(UsageDay))
    ];

    [WolverinePost("/admin/projections/rebuild", OperationId = "rebuildProjections"), Authorize(Policy = PeopleAuthentication.Policies.Admin)]
    [Tags("Operations")]
    public static async Task Post(HttpContext context, IDocumentStore store, ILogger<RebuildProjectionsLog> logger, CancellationToken ct)
    {
        context.Response.ContentType = "application/x-ndjson";
        async Task Report(object line)
        {
            await context.Response.WriteAsync(JsonSerializer.Serialize(line, LedgerSetup.ApiJson) + "\n", ct);
            await context.Response.Body.FlushAsync(ct);
        }

        long events;
        await using (var query = store.QuerySession()) events = await query.Events.QueryAllRawEvents().LongCountAsync(ct);
        await Report(new { stage = "start", events_in_ledger = events, projections = ReadModels.Select(r => r.Name) });

        using var daemon = await store.BuildProjectionDaemonAsync();
        var total = Stopwatch.StartNew();
        foreach (var (name, projection, document) in ReadModels)
        {
            var watch = Stopwatch.StartNew();
            await Report(new { stage = "rebuilding", projection = name });
            await daemon.RebuildProjectionAsync(projection, TimeSpan.FromMinutes(30), ct);
            long documents;
            await using (var query = store.QuerySession())
                documents = (await query.QueryAsync<long>($"select count(*) from {store.Options.Schema.For(document)}", ct)).Single();
            var seconds = watch.Elapsed.TotalSeconds;
            logger.LogInformation("Rebuilt {Projection}: {Documents} documents from {Events} events in {Seconds:0.0} s", name, documents, events, seconds);
            await Report(new { stage = "rebuilt", projection = name, documents, seconds, events_per_second = seconds > 0 ? events / seconds : events });
        }
        await Report(new { stage = "done", seconds = total.Elapsed.TotalSeconds });
    }
}

/// <summary>Log category for rebuilds.</summary>
public sealed class RebuildProjectionsLog;
