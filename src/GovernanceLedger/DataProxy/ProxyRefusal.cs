using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Telemetry;

namespace GovernanceLedger.DataProxy;

/// <summary>
/// How the data proxy refuses a query (a dataset query or a template run): the refusal is recorded first, then answered
/// as problem+json with the violations when there are some. A refusal the ledger cannot record is answered 503.
/// </summary>
public static class ProxyRefusal
{
    public static async Task<IResult> RefuseAsync(AccessRecorder recorder, LedgerTelemetry telemetry, ILogger logger,
        HttpContext context, string route, Denial denial, long start, IReadOnlyList<Violation>? violations = null)
    {
        try
        {
            await recorder.DeniedAsync(context, QueryDataset.Plane, route, denial, start);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Could not record a denial; answering 503");
            return Problem.Unavailable("The ledger is unavailable, so the request is refused.").ToResult();
        }
        telemetry.Queries.Add(1, new System.Diagnostics.TagList { { "app_id", denial.AppId }, { "dataset", route }, { "status", denial.Status }, { "decision", "deny" } });
        // An invalid query is a validation problem; any other refusal keeps its rule as its type, with what it names.
        if (violations is { Count: > 0 } && denial.Status == StatusCodes.Status400BadRequest)
            return new Problem(denial.Status, "https://governance-ledger.dev/problems/validation", "The query was refused", denial.Reason, violations).ToResult();
        return AccessRecorder.Refusal(denial, violations);
    }
}
