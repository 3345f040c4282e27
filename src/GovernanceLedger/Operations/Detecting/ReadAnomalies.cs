using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>
/// GET /ops/anomalies?from=&amp;to= (security reviewers and admins): every anomaly the ledger recorded across apps in a
/// window (the last day by default, at most 31 days), newest first, at most 500.
/// </summary>
public static class ReadAnomalies
{
    public const int MaxItems = 500;

    [WolverineGet("/ops/anomalies", OperationId = "listAnomalies"), Authorize(Policy = PeopleAuthentication.Policies.Reviewer)]
    [Tags("Operations")]
    public static async Task<IResult> Get(DateTimeOffset? from, DateTimeOffset? to, IQuerySession session, TimeProvider clock, CancellationToken ct)
    {
        var end = to ?? clock.GetUtcNow().AddMinutes(1);
        var start = from ?? end.AddDays(-1);
        if (start >= end) return Problem.Invalid("from", "before-to", "from must be earlier than to.").ToResult();
        if (end - start > TimeSpan.FromDays(31)) return Problem.Invalid("to", "max-window", "A window spans at most 31 days.").ToResult();
        var anomalies = await session.Events.QueryRawEventDataOnly<AnomalyDetected>()
            .Where(a => a.At >= start && a.At < end)
            .OrderByDescending(a => a.At).Take(MaxItems).ToListAsync(ct);
        return Results.Json(new
        {
            from = start, to = end,
            items = anomalies.Select(a => new
            {
                app_id = a.AppId, policy_id = a.PolicyId, policy_version = a.PolicyVersion, metric = a.Metric, window = a.Window,
                value = a.Value, baseline = a.Baseline, action = a.Action, findings = a.Findings, at = a.At
            })
        }, LedgerSetup.ApiJson);
    }
}
