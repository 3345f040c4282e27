using System.Text.Json;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Operations;

/// <summary>
/// POST /admin/projections/rebuild: rebuilds every read model blue/green (<see cref="ReadModelRebuilder"/>),
/// reporting progress as NDJSON lines while it runs. The result equals what the live projections held,
/// because read models are only ever derived from events. A second request, here or on another
/// instance, gets 409 with the running one's progress.
/// </summary>
public static class RebuildProjections
{
    [WolverinePost("/admin/projections/rebuild", OperationId = "rebuildProjections"), Authorize(Policy = PeopleAuthentication.Policies.Admin)]
    [Tags("Operations")]
    public static async Task Post(HttpContext context, ReadModelRebuilder rebuilder, CancellationToken ct)
    {
        var started = false;
        var outcome = await rebuilder.RunAsync(null, async line =>
        {
            if (!started)
            {
                context.Response.ContentType = "application/x-ndjson";
                started = true;
            }
            await context.Response.WriteAsync(JsonSerializer.Serialize(line, LedgerSetup.ApiJson) + "\n", ct);
            await context.Response.Body.FlushAsync(ct);
        }, ct);
        if (outcome == RebuildOutcome.RunningHere) await Busy(context, rebuilder.Progress ?? new { stage = "starting" });
        else if (outcome == RebuildOutcome.RunningElsewhere) await Busy(context, new { stage = "running on another instance" });
    }

    private static Task Busy(HttpContext context, object progress) =>
        new Problem(StatusCodes.Status409Conflict, "https://governance-ledger.dev/problems/rebuild-running", "A rebuild is running",
            $"One rebuild runs at a time; the running one is at: {JsonSerializer.Serialize(progress, LedgerSetup.ApiJson)}",
            [new Violation("", "one-rebuild-at-a-time", "a rebuild is already running")]).ToResult().ExecuteAsync(context);
}
