using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;

namespace GovernanceLedger.Operations;

/// <summary>
/// GET /health: 200 when the ledger answers, policies are loaded, the app directory has read the catalog once (until then
/// the data plane answers 503 "directory-loading") and the access journal keeps up; otherwise 503 naming what is down.
/// </summary>
public static class Health
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);

    public static void MapHealth(this WebApplication app) =>
        app.MapGet("/health", CheckAsync).AllowAnonymous().WithTags("Operations");

    private static async Task<IResult> CheckAsync(LedgerDatabase ledger, PolicyEngine policies, DataPlane.AccessLedger accesses, DataPlane.AppDirectory directory,
        ILogger<LedgerDatabase> logger, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Budget);
        var reachable = true;
        try
        {
            await using var command = ledger.Health.CreateCommand("select 1");
            await command.ExecuteScalarAsync(timeout.Token);
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or OperationCanceledException or TimeoutException or InvalidOperationException)
        {
            logger.LogWarning(e, "Health check: the ledger database did not answer");
            reachable = false;
        }
        var loaded = policies.Policies.Count > 0;
        // With a journal, the ledger must also be taking its records: while it lags, the data plane refuses requests.
        var keepingUp = !accesses.Lagging;
        // And the journal must take records: while its disk is full or broken, every data-plane request is answered 503.
        var writable = accesses.JournalWritable();
        // A host whose app directory has not read the catalog yet refuses every data-plane request: not ready for traffic.
        var directoryLoaded = directory.Loaded;
        var healthy = reachable && loaded && directoryLoaded && keepingUp && writable;
        var body = new
        {
            status = healthy ? "healthy" : "unhealthy",
            ledger = reachable ? "reachable" : "unreachable",
            policies = loaded ? "loaded" : "not loaded",
            policies_in_force = policies.Policies.Count,
            apps = directoryLoaded ? "loaded" : "loading",
            journal = accesses.JournalDirectory is null ? null : new
            {
                undrained = accesses.Undrained, ledger = keepingUp ? "keeping up" : "lagging", writes = writable ? "ok" : "failing"
            }
        };
        return healthy ? Results.Ok(body) : Results.Json(body, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
