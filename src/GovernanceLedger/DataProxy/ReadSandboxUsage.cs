using System.Security.Claims;
using GovernanceLedger.Chargeback;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Projections.Chargeback;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.DataProxy;

/// <summary>
/// GET /apps/{appId}/sandbox: what the app did in the sandbox, day by day, with simulated metrics: requests, refusals,
/// rows, bytes answered, mean latency, and what that traffic would cost at the rate card in force. Nothing of it is charged.
/// </summary>
public static class ReadSandboxUsage
{
    [WolverineGet("/apps/{appId}/sandbox", OperationId = "sandboxUsage"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Credentials")]
    public static async Task<IResult> Get(string appId, ClaimsPrincipal user, IQuerySession session, CancellationToken ct)
    {
        var app = await session.LoadAsync<AppCatalogEntry>(appId, ct);
        if (app is null || !Caller.From(user).MaySee(app.Owner)) return Problem.NoSuchApp(appId).ToResult();

        var served = await session.Events.QueryRawEventDataOnly<SandboxRequestServed>().Where(e => e.AppId == appId).ToListAsync(ct);
        var cards = await RateCards.CardsAsync(session, ct);
        var days = served.GroupBy(e => DateOnly.FromDateTime(e.At.UtcDateTime)).OrderBy(g => g.Key).Select(g =>
        {
            var allowed = g.Where(e => e.Decision == AccessDecisions.Allow).ToList();
            var usage = new UsageDay
            {
                AppId = appId, Day = g.Key, Requests = allowed.Count, Rows = allowed.Sum(e => (long)e.Rows), Bytes = allowed.Sum(e => e.BytesOut),
                ComputeMilliseconds = (decimal)allowed.Sum(e => e.DurationMs)
            };
            return new
            {
                day = g.Key, requests = g.Count(), refused = g.Count() - allowed.Count, rows = usage.Rows, bytes = usage.Bytes,
                mean_latency_ms = allowed.Count == 0 ? 0 : Math.Round(allowed.Average(e => e.DurationMs), 3),
                simulated_cost = ReadChargeback.Price(usage, RateCards.InForce(cards, g.Key))
            };
        }).ToList();
        return Results.Json(new
        {
            app_id = appId,
            requests = days.Sum(d => d.requests), refused = days.Sum(d => d.refused), rows = days.Sum(d => d.rows), bytes = days.Sum(d => d.bytes),
            simulated_cost = days.Sum(d => d.simulated_cost),
            currency = RateCards.InForce(cards, DateOnly.FromDateTime(DateTime.UtcNow))?.Currency ?? "",
            charged = false,
            days
        }, LedgerSetup.ApiJson);
    }
}
