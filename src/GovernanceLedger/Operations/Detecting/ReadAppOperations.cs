using System.Security.Claims;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>GET /ops/apps/{appId}: the app's baseline, its current minute, any throttle, and the anomalies acted on.</summary>
public static class ReadAppOperations
{
    [WolverineGet("/ops/apps/{appId}", OperationId = "appOperations"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Operations")]
    public static async Task<IResult> Get(string appId, ClaimsPrincipal user, IQuerySession session, TimeProvider clock, CancellationToken ct)
    {
        var caller = Caller.From(user);
        var app = await session.LoadAsync<AppCatalogEntry>(appId, ct);
        // Owners, security and platform admins; to anyone else the app is not there.
        // A reserved id's activity is the ledger's own (requests without a valid token), never an owner's.
        if (app is null || !((caller.Owns(app.Owner) && !Apps.Registering.ReservedAppIds.Contains(appId)) || caller.IsReviewer))
            return Problem.NoSuchApp(appId).ToResult();

        var activity = await session.LoadAsync<AppActivity>(appId, ct);
        var anomalies = (await session.Events.FetchStreamAsync(appId, token: ct)).Select(e => e.Data).OfType<AnomalyDetected>().TakeLast(50).ToList();
        var now = clock.GetUtcNow();
        return Results.Json(new
        {
            app_id = appId,
            status = app.Status,
            baseline = activity is { Minutes.Count: > 0 } ? Describe(activity) : null,
            current = activity?.Minutes.LastOrDefault() is { } minute ? new
            {
                minute = minute.Minute, requests = minute.Requests, errors = minute.Errors, denials = minute.Denials, rows = minute.Rows,
                bytes = minute.Bytes, error_rate = Math.Round(minute.ErrorRate, 4), latency_ms = Math.Round(minute.LatencyMs, 3),
                end_users = minute.DistinctEndUsers, pii_fields = minute.PiiFields, new_pii_fields = minute.NewPiiFields
            } : null,
            pii_fields_read = activity?.PiiFieldsRead.Order(StringComparer.Ordinal).ToList() ?? [],
            // The last hour, minute by minute, for usage charts.
            recent_minutes = activity?.Minutes.TakeLast(60).Select(m => new
            {
                minute = m.Minute, requests = m.Requests, errors = m.Errors, denials = m.Denials, rows = m.Rows,
                latency_ms = Math.Round(m.LatencyMs, 3)
            }).ToList(),
            throttle = app.ThrottledUntil is { } until && now < until
                ? new { requests_per_second = app.ThrottleRequestsPerSecond, until }
                : null,
            anomalies
        }, LedgerSetup.ApiJson);
    }

    private static object Describe(AppActivity activity)
    {
        var (baseline, source) = activity.InForce();
        return new
        {
        source,
        warm = source == "hour_of_week" || activity.Warm,
        hour_of_week = AppActivity.HourOfWeekOf(activity.Current.Minute),
        minutes = baseline.Minutes,
        requests_per_minute = Math.Round(baseline.RequestsPerMinute, 3),
        error_rate = Math.Round(baseline.ErrorRate, 4),
        denials_per_minute = Math.Round(baseline.DenialsPerMinute, 3),
        rows_per_minute = Math.Round(baseline.RowsPerMinute, 3),
        bytes_per_minute = Math.Round(baseline.BytesPerMinute, 1),
        latency_ms = Math.Round(baseline.LatencyMs, 3),
        end_users_per_minute = Math.Round(baseline.EndUsersPerMinute, 3),
        hours_of_week_learned = activity.HourOfWeek.Count
        };
    }
}
