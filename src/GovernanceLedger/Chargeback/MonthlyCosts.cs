using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Projections.Chargeback;
using Marten;

namespace GovernanceLedger.Chargeback;

/// <summary>What each app has cost so far in a month, priced as the chargeback report prices it.</summary>
public static class MonthlyCosts
{
    public static async Task<IReadOnlyDictionary<string, decimal>> PerAppAsync(IQuerySession session, DateOnly first, CancellationToken ct)
    {
        var last = first.AddMonths(1).AddDays(-1);
        var cards = await RateCards.CardsAsync(session, ct);
        var days = await session.Query<UsageDay>().Where(d => d.Day >= first && d.Day <= last).ToListAsync(ct);
        return days.GroupBy(d => d.AppId).ToDictionary(g => g.Key, g => g.Sum(d => ReadChargeback.Price(d, RateCards.InForce(cards, d.Day))));
    }

    /// <summary>
    /// The actual cost a budget is measured against: its app's, or every app's of its cost centre whose owner the cost
    /// centre pays for (an app that named it without being given it neither spends its budget nor is throttled by it).
    /// </summary>
    public static decimal Of(BudgetEntry budget, IReadOnlyDictionary<string, decimal> perApp, IReadOnlyDictionary<string, AppCatalogEntry> catalog,
        GovernanceLedger.Policies.DataCatalog costCenters) =>
        budget.Scope == Budgets.App
            ? perApp.GetValueOrDefault(budget.Key)
            : perApp.Where(a => catalog.TryGetValue(a.Key, out var app) && Charged(budget.Key, app, costCenters)).Sum(a => a.Value);

    public static IEnumerable<string> AppsOf(BudgetEntry budget, IEnumerable<AppCatalogEntry> catalog, GovernanceLedger.Policies.DataCatalog costCenters) =>
        budget.Scope == Budgets.App ? [budget.Key] : catalog.Where(a => Charged(budget.Key, a, costCenters)).Select(a => a.Id);

    private static bool Charged(string costCenter, AppCatalogEntry app, GovernanceLedger.Policies.DataCatalog costCenters) =>
        app.CostCenter == costCenter && costCenters.Bills(costCenter, app.Owner);
}

public static class Budgets
{
    /// <summary>A month as YYYY-MM, as its first day.</summary>
    public static bool TryParseMonth([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? month, out DateOnly first)
    {
        first = default;
        return month is not null && DateOnly.TryParseExact(month + "-01", "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.None, out first);
    }

    public const string App = "app";
    public const string CostCenter = "cost_center";
    public static readonly int[] Thresholds = [80, 100];
}
