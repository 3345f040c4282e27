using System.Security.Claims;
using GovernanceLedger.Contracts.Warehouse;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Warehouse;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Wolverine.Http;

namespace GovernanceLedger.Warehouse;

/// <summary>POST /warehouse/exports/{name}/runs (platform admins): runs a declared export now and answers with its run event.</summary>
public static class RunExport
{
    [WolverinePost("/warehouse/exports/{name}/runs", OperationId = "runExport"), Authorize(Policy = PeopleAuthentication.Policies.Admin)]
    [Tags("Warehouse")]
    public static async Task<IResult> Post(string name, ClaimsPrincipal user, WarehouseExporter exporter, IOptionsMonitor<WarehouseOptions> options,
        CancellationToken ct)
    {
        if (options.CurrentValue.Export(name) is not { } definition)
            return Problem.NotFound($"No export named '{StrictJson.Bounded(name, 63)}' is declared.").ToResult();
        var outcome = await exporter.RunAsync(definition, "on-demand", Caller.From(user).Actor, ct);
        return outcome.Problem is { } problem ? problem.ToResult() : Results.Json(outcome.Event, LedgerSetup.ApiJson, statusCode: StatusCodes.Status201Created);
    }
}

/// <summary>
/// GET /warehouse/exports (people): every declared export, its definition and fingerprint, what the PII check says of it
/// now, and its last run, refusal and failure.
/// </summary>
public static class ListExports
{
    [WolverineGet("/warehouse/exports", OperationId = "listExports"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Warehouse")]
    public static async Task<IResult> Get(WarehouseExporter exporter, IOptionsMonitor<WarehouseOptions> options, IQuerySession session, CancellationToken ct)
    {
        var exports = new List<object>();
        foreach (var definition in options.CurrentValue.Exports)
        {
            var state = await session.LoadAsync<WarehouseExportState>(WarehouseExportState.StreamFor(definition.Name), ct);
            var (_, findings) = exporter.Check(definition);
            exports.Add(new
            {
                name = definition.Name, source = definition.Source, dataset = definition.Dataset, target = definition.Target,
                warehouse = options.CurrentValue.Connector, sql = definition.Sql, every = definition.Every?.ToString("c"),
                definition_sha256 = definition.Sha256(), pii_check = findings.Count == 0 ? "passes" : "refused", findings,
                runs = state?.Runs ?? 0, last_run = state?.LastRun, last_refusal = state?.LastRefusal, last_failure = state?.LastFailure
            });
        }
        return Results.Json(new { warehouse = options.CurrentValue.Connector, exports }, LedgerSetup.ApiJson);
    }
}

/// <summary>
/// Runs scheduled exports when they are due. A loop rather than the async daemon: what starts a run is the clock, not an
/// event. One host runs them at a time (the lease), and "due" is read from the ledger, so a restart neither skips nor repeats.
/// </summary>
public sealed class ExportScheduler(
    WarehouseExporter exporter, IOptionsMonitor<WarehouseOptions> options, IDocumentStore store, LedgerDatabase ledger, TimeProvider clock,
    ILogger<ExportScheduler> logger) : BackgroundService
{
    public const string Actor = "ledger:export-schedule";

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (options.CurrentValue.Scheduled && options.CurrentValue.Exports.Any(e => e.Every is not null))
                {
                    await using var lease = await LeaderLease.TryAcquireAsync(ledger, "warehouse-exports", stop);
                    if (lease is not null) await RunDueAsync(stop);
                }
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                logger.LogError(e, "Scheduled exports could not run; trying again in a minute");
            }
            await Task.Delay(TimeSpan.FromMinutes(1), clock, stop);
        }
    }

    public async Task RunDueAsync(CancellationToken ct)
    {
        foreach (var definition in options.CurrentValue.Exports.Where(e => e.Every is not null))
        {
            await using var session = store.QuerySession();
            var state = await session.LoadAsync<WarehouseExportState>(WarehouseExportState.StreamFor(definition.Name), ct);
            var last = new[] { state?.LastRun?.At, state?.LastRefusal?.At, state?.LastFailure?.At }.Max();
            if (last is { } at && at + definition.Every!.Value > clock.GetUtcNow()) continue;
            await exporter.RunAsync(definition, "schedule", Actor, ct);
        }
    }
}
