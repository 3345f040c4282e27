using System.Security.Claims;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Projections.Chargeback;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Chargeback;

/// <summary>GET /chargeback/budgets?month=: each budget against the month's actual cost so far.</summary>
public static class ReadBudgets
{
    [WolverineGet("/chargeback/budgets", OperationId = "budgets"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Chargeback")]
    public static async Task<IResult> Get(string? month, ClaimsPrincipal user, IQuerySession session,
        Microsoft.Extensions.Options.IOptionsMonitor<GovernanceLedger.Policies.DataCatalog> costCenters, CancellationToken ct)
    {
        if (!Budgets.TryParseMonth(month, out var first))
            return Problem.Invalid("month", "format", "month must be YYYY-MM.").ToResult();
        var caller = Caller.From(user);
        var everything = caller.Has(Role.Finance) || caller.Has(Role.Auditor) || caller.IsAdmin;
        var catalog = (await session.Query<AppCatalogEntry>().ToListAsync(ct)).ToDictionary(a => a.Id);
        var perApp = await MonthlyCosts.PerAppAsync(session, first, ct);
        var budgets = (await session.Query<BudgetEntry>().Where(b => b.Month == month).ToListAsync(ct))
            // Owners see their own apps' budgets; a cost centre's adds up other people's apps, so only finance sees it.
            .Where(b => everything || b.Scope == Budgets.App && catalog.TryGetValue(b.Key, out var a) && caller.Owns(a.Owner))
            .OrderBy(b => b.Scope, StringComparer.Ordinal).ThenBy(b => b.Key, StringComparer.Ordinal);
        return Results.Json(budgets.Select(b =>
        {
            var actual = MonthlyCosts.Of(b, perApp, catalog, costCenters.CurrentValue);
            return new
            {
                scope = b.Scope, key = b.Key, month = b.Month, amount = b.Amount, currency = b.Currency, actual,
                percent = Math.Round(actual / b.Amount * 100m, 1), reached = b.Reached.Order(), throttle_at_limit = b.ThrottleAtLimit,
                set_by = b.SetBy, reason = b.Reason
            };
        }), LedgerSetup.ApiJson);
    }
}
