using System.Security.Claims;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Apps.Catalog;

/// <summary>The catalog, read straight from its projection. Owners see their own apps; governance roles see all.</summary>
public static class QueryApps
{
    private static readonly string[] Statuses =
        [AppStatus.PendingReview, AppStatus.Active, AppStatus.Rejected, AppStatus.Paused, AppStatus.Expired, AppStatus.Retired];

    [WolverineGet("/apps", OperationId = "listApps"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Apps")]
    public static async Task<IResult> List(string? status, string? owner, ClaimsPrincipal user, IQuerySession session, CancellationToken ct)
    {
        if (status is not null && !Statuses.Contains(status))
            return Problem.Invalid("status", "enum", $"status must be one of {string.Join(", ", Statuses)}.").ToResult();

        var caller = Caller.From(user);
        IQueryable<AppCatalogEntry> query = session.Query<AppCatalogEntry>();
        if (!caller.SeesAllApps)
        {
            var me = caller.Email ?? caller.Subject;
            if (owner is not null && !caller.Owns(owner))
                return Problem.Forbidden("own-apps-only", "You may list only your own apps.").ToResult();
            owner = me;
        }
        if (status is not null) query = query.Where(a => a.Status == status);
        if (owner is not null)
        {
            var wanted = owner.ToLowerInvariant();
            query = query.Where(a => a.Owner.ToLower() == wanted);
        }
        var apps = await query.OrderBy(a => a.Id).Take(1000).ToListAsync(ct);
        return Results.Ok(apps);
    }

    [WolverineGet("/apps/{appId}", OperationId = "getApp"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Apps")]
    public static async Task<IResult> Get(string appId, ClaimsPrincipal user, IQuerySession session, CancellationToken ct)
    {
        var app = await session.LoadAsync<AppCatalogEntry>(appId, ct);
        // An app the caller may not see answers exactly like one that does not exist.
        return app is not null && Caller.From(user).MaySee(app.Owner) ? Results.Ok(app) : Problem.NoSuchApp(appId).ToResult();
    }

    /// <summary>The app's raw lifecycle stream, in order, exactly as the ledger holds it.</summary>
    [WolverineGet("/apps/{appId}/events", OperationId = "getAppEvents"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Apps")]
    public static async Task<IResult> Events(string appId, ClaimsPrincipal user, IQuerySession session, CancellationToken ct)
    {
        var app = await session.LoadAsync<AppCatalogEntry>(appId, ct);
        if (app is null || !Caller.From(user).MaySee(app.Owner)) return Problem.NoSuchApp(appId).ToResult();

        var events = await session.Events.FetchStreamAsync(appId, token: ct);
        return Results.Ok(events.Select(e => new LedgerEventView(e.Sequence, e.Version, e.EventTypeName, e.Timestamp, e.Data)));
    }
}

public sealed record LedgerEventView(long Sequence, long Version, string Type, DateTimeOffset RecordedAt, object Data);
