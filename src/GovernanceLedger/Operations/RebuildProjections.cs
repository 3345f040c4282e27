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
/// held, because read models are only ever derived from events. One rebuild runs at a time across
/// every instance (an advisory lock); a second request gets 409 with the running one's progress.
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
    public static async Task Post(
        HttpContext context, IDocumentStore store, LedgerDatabase ledger, RebuildState state, ILogger<RebuildProjectionsLog> logger, CancellationToken ct)
    {
        if (!await state.Gate.WaitAsync(0, ct))
        {
            await Busy(context, state.Progress ?? new { stage = "starting" });
            return;
        }
        try
        {
            await using var lockConnection = await ledger.Source.OpenConnectionAsync(ct);
            await using (var tryLock = new Npgsql.NpgsqlCommand("select pg_try_advisory_lock(hashtext('govledger:projection-rebuild'))", lockConnection))
                if (await tryLock.ExecuteScalarAsync(ct) is not true)
                {
                    await Busy(context, new { stage = "running on another instance" });
                    return;
                }
            try
            {
                await RunAsync(context, store, state, logger, ct);
            }
            finally
            {
                // Released explicitly: a pooled connection would otherwise keep holding it after it is returned.
                await using var unlock = new Npgsql.NpgsqlCommand("select pg_advisory_unlock(hashtext('govledger:projection-rebuild'))", lockConnection);
                await unlock.ExecuteScalarAsync(CancellationToken.None);
            }
        }
        finally
        {
            state.Progress = null;
            state.Gate.Release();
        }
    }

    private static Task Busy(HttpContext context, object progress) =>
        new Problem(StatusCodes.Status409Conflict, "https://governance-ledger.dev/problems/rebuild-running", "A rebuild is running",
            $"One rebuild runs at a time; the running one is at: {JsonSerializer.Serialize(progress, LedgerSetup.ApiJson)}",
            [new Violation("", "one-rebuild-at-a-time", "a rebuild is already running")]).ToResult().ExecuteAsync(context);

    private static async Task RunAsync(HttpContext context, IDocumentStore store, RebuildState state, ILogger<RebuildProjectionsLog> logger, CancellationToken ct)
    {
        context.Response.ContentType = "application/x-ndjson";
        async Task Report(object line)
        {
            state.Progress = line;
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

/// <summary>The rebuild running in this process, if any, and how far it is.</summary>
public sealed class RebuildState
{
    public SemaphoreSlim Gate { get; } = new(1, 1);
    public volatile object? Progress;
}

/// <summary>Log category for rebuilds.</summary>
public sealed class RebuildProjectionsLog;
