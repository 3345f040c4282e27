using System.Security.Claims;
using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Audit;

/// <summary>Who did what, when: timelines, denials, dataset and field access, and an app as it stood at any instant.</summary>
public static class ReadTimelines
{
    private static bool IsAuditor(Caller c) => c.Has(Role.Auditor) || c.IsReviewer;

    private static Problem? Window(DateTimeOffset? from, DateTimeOffset? to, int? limit, out DateTimeOffset start, out DateTimeOffset end, out int size)
    {
        end = to ?? DateTimeOffset.UtcNow.AddMinutes(1);
        start = from ?? end.AddDays(-1);
        size = limit ?? AuditResults.DefaultLimit;
        if (start >= end) return Problem.Invalid("from", "before-to", "from must be earlier than to.");
        if (end - start > TimeSpan.FromDays(366)) return Problem.Invalid("to", "max-window", "A window spans at most 366 days; page through longer periods.");
        if (size is < 1 or > AuditResults.MaxLimit) return Problem.Invalid("limit", "range", $"limit must be from 1 to {AuditResults.MaxLimit}.");
        return null;
    }

    private static async Task<Problem?> MayReadApp(Caller caller, string appId, IQuerySession session, CancellationToken ct)
    {
        if (IsAuditor(caller)) return null;
        var app = await session.LoadAsync<AppCatalogEntry>(appId, ct);
        // A reserved id's trail is the ledger's own (every caller's refusals without a valid token): never an owner's,
        // even where an app took the id before it was reserved.
        return app is not null && caller.Owns(app.Owner) && !GovernanceLedger.Apps.Registering.ReservedAppIds.Contains(appId)
            ? null
            : Problem.Forbidden("auditor-or-owner", "Only auditors, security and the app's owner may read this app's audit trail.");
    }

    [WolverineGet("/audit/timeline", OperationId = "auditTimeline"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Audit")]
    public static async Task<IResult> Timeline(
        string? app_id, DateTimeOffset? from, DateTimeOffset? to, long? cursor, int? limit,
        HttpContext context, ClaimsPrincipal user, IQuerySession session, AuditQueries audit, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(app_id)) return Problem.Invalid("app_id", "required", "app_id is required.").ToResult();
        if (Window(from, to, limit, out var start, out var end, out var size) is { } bad) return bad.ToResult();
        if (await MayReadApp(Caller.From(user), app_id, session, ct) is { } refused) return refused.ToResult();
        return AuditResults.Render(context, await audit.TimelineAsync(app_id, start, end, cursor ?? 0, size, ct));
    }

    [WolverineGet("/audit/denials", OperationId = "auditDenials"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Audit")]
    public static async Task<IResult> Denials(
        string? app_id, DateTimeOffset? from, DateTimeOffset? to, long? cursor, int? limit,
        HttpContext context, ClaimsPrincipal user, IQuerySession session, AuditQueries audit, CancellationToken ct)
    {
        if (Window(from, to, limit, out var start, out var end, out var size) is { } bad) return bad.ToResult();
        var caller = Caller.From(user);
        if (app_id is null && !IsAuditor(caller))
            return Problem.Forbidden("auditor", "Only auditors and security may read denials across apps; owners name their app_id.").ToResult();
        if (app_id is not null && await MayReadApp(caller, app_id, session, ct) is { } refused) return refused.ToResult();
        return AuditResults.Render(context, await audit.DenialsAsync(app_id, start, end, cursor ?? 0, size, ct));
    }

    [WolverineGet("/audit/access", OperationId = "auditAccess"), Authorize(Policy = AuditSetup.AuditorPolicy)]
    [Tags("Audit")]
    public static async Task<IResult> Access(
        string? dataset, string? field, DateTimeOffset? from, DateTimeOffset? to, long? cursor, int? limit,
        HttpContext context, AuditQueries audit, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(dataset)) return Problem.Invalid("dataset", "required", "dataset is required.").ToResult();
        if (Window(from, to, limit, out var start, out var end, out var size) is { } bad) return bad.ToResult();
        return AuditResults.Render(context, await audit.AccessAsync(dataset, field, start, end, cursor ?? 0, size, ct));
    }

    /// <summary>The app as the ledger knew it at an instant: status, scopes, grants, approvals and the policy versions that decided.</summary>
    [WolverineGet("/audit/apps/{appId}/as-of", OperationId = "auditAppAsOf"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Audit")]
    public static async Task<IResult> AsOf(string appId, DateTimeOffset? at, ClaimsPrincipal user, IQuerySession session, CancellationToken ct)
    {
        if (at is null) return Problem.Invalid("at", "required", "at (an ISO 8601 instant) is required.").ToResult();
        if (await MayReadApp(Caller.From(user), appId, session, ct) is { } refused) return refused.ToResult();
        var events = await session.Events.FetchStreamAsync(appId, timestamp: at.Value, token: ct);
        if (events.Count == 0) return Problem.NotFound($"App '{appId}' did not exist at {at:O}.").ToResult();

        var data = events.Select(e => e.Data).ToList();
        var app = App.Replay(data);
        var granted = data.Aggregate((Scopes: (IReadOnlyList<string>)[], Datasets: (IReadOnlyList<DatasetRequest>)[]), (g, e) => e switch
        {
            AccessGranted x => (x.Scopes, x.Datasets),
            AccessRevoked => ([], []),
            _ => g
        });
        var status = app.Status == AppStatus.Active && app.IsExpiredAt(at.Value) ? AppStatus.Expired : app.Status;
        return Results.Ok(new
        {
            app_id = appId,
            at,
            as_of_sequence = events[^1].Sequence,
            status,
            owner = app.Owner,
            requested_scopes = app.Scopes,
            granted_scopes = granted.Scopes,
            granted_datasets = granted.Datasets,
            expires_at = app.ExpiresAt,
            approvals = data.OfType<ApprovalGiven>().Select(a => new { reviewer = a.Reviewer, reason = a.Reason, at = a.At }),
            policy_versions = data.OfType<PolicyChecked>().Select(p => new { policy_id = p.PolicyId, version = p.PolicyVersion, outcome = p.Outcome, reason = p.Reason })
        });
    }
}
