using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.DataProxy.Revealing;

/// <summary>
/// GET /ops/end-users/{user}?region= (security reviewers and admins): what the ledger holds on an end user and the risk
/// score a PII reveal would see for them now (from the region given, else their latest one).
/// </summary>
public static class ReadEndUserRisk
{
    [WolverineGet("/ops/end-users/{user}", OperationId = "readEndUserRisk"), Authorize(Policy = PeopleAuthentication.Policies.Reviewer)]
    [Tags("Operations")]
    public static async Task<IResult> Get(string user, string? region, IQuerySession session, TimeProvider clock, CancellationToken ct)
    {
        var activity = await session.LoadAsync<EndUserActivity>(user, ct);
        if (activity is null) return Problem.NotFound($"The ledger has seen no request for end user '{StrictJson.Bounded(user, 254)}'.").ToResult();
        var risk = RiskAssessment.Of(activity, region ?? activity.Regions.MaxBy(r => r.Value).Key, clock.GetUtcNow());
        return Results.Json(new
        {
            end_user = activity.Id,
            risk,
            denials_by_hour = activity.DenialsByHour.OrderBy(h => h.Key),
            requests_by_day = activity.RequestsByDay.OrderBy(d => d.Key),
            regions = activity.Regions
        }, LedgerSetup.ApiJson);
    }
}
