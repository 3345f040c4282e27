using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Chargeback;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Operations.Notifying;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Projections.Chargeback;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.Marten;

namespace GovernanceLedger.Chargeback;

/// <summary>A budget's actual cost crossed a threshold: for its handler to record, announce and act on once.</summary>
public sealed record BudgetCrossed(string BudgetId, int Percent, decimal Actual);

/// <summary>Throttles one app until its budget's month ends.</summary>
public sealed record ThrottleForBudget(string AppId, string BudgetId, DateTimeOffset Until);

/// <summary>
/// Prices every app's month so far (exported as ledger_app_month_cost) and compares this month's budgets with their actual cost every <c>Chargeback:BudgetCheckSeconds</c> (30 by default)
/// and reports each threshold newly crossed. A look of its own rather than a daemon projection: costs are priced
/// read models (usage per day and the rate card in force), not events. One instance looks at a time.
/// </summary>
public sealed class BudgetWatch(IDocumentStore store, LedgerDatabase ledger, IServiceScopeFactory scopes, TimeProvider clock, IConfiguration configuration,
    Telemetry.LedgerTelemetry telemetry, IOptionsMonitor<GovernanceLedger.Policies.DataCatalog> costCenters, ILogger<BudgetWatch> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        var every = TimeSpan.FromSeconds(configuration.GetValue("Chargeback:BudgetCheckSeconds", 30.0));
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var lease = await LeaderLease.TryAcquireAsync(ledger, "budget-watch", stop);
                if (lease is not null) await LookAsync(stop);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                logger.LogWarning(e, "Could not compare budgets with their actual cost; trying again");
            }
            await Task.Delay(every, stop).ContinueWith(_ => { }, CancellationToken.None);
        }
    }

    public async Task LookAsync(CancellationToken ct)
    {
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var month = $"{today:yyyy-MM}";
        await using var session = store.QuerySession();
        // Every app's cost so far goes to the dashboards, budget or not.
        var perApp = await MonthlyCosts.PerAppAsync(session, new DateOnly(today.Year, today.Month, 1), ct);
        telemetry.MonthCosts(perApp);
        var budgets = await session.Query<BudgetEntry>().Where(b => b.Month == month).ToListAsync(ct);
        if (budgets.Count == 0) return;
        var catalog = (await session.Query<AppCatalogEntry>().ToListAsync(ct)).ToDictionary(a => a.Id);
        using var scope = scopes.CreateScope();
        var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
        foreach (var budget in budgets)
        {
            var actual = MonthlyCosts.Of(budget, perApp, catalog, costCenters.CurrentValue);
            foreach (var percent in Budgets.Thresholds.Where(p => !budget.Reached.Contains(p) && actual * 100m >= budget.Amount * p))
                await bus.PublishAsync(new BudgetCrossed(budget.Id, percent, actual));
        }
    }
}

public static class BudgetCrossedHandler
{
    /// <summary>Records the threshold once (a repeat finds it reached), tells finance and the owners, and throttles at 100% when asked.</summary>
    public static async Task<OutgoingMessages> Handle(BudgetCrossed message, IDocumentSession session, TimeProvider clock,
        IOptions<NotificationOptions> notifications, IOptionsMonitor<GovernanceLedger.Policies.DataCatalog> costCenters, CancellationToken ct)
    {
        var messages = new OutgoingMessages();
        var budget = await session.LoadAsync<BudgetEntry>(message.BudgetId, ct);
        if (budget is null || budget.Reached.Contains(message.Percent)) return messages;
        var now = clock.GetUtcNow();
        // At the version it was read at: two instances reporting the same crossing cannot both record it.
        var state = await session.Events.FetchStreamStateAsync(message.BudgetId, ct);
        session.Events.Append(message.BudgetId, state!.Version + 1,
            new BudgetThresholdReached(budget.Scope, budget.Key, budget.Month, message.Percent, message.Actual, budget.Amount, budget.Currency, now));

        var catalog = await session.Query<AppCatalogEntry>().ToListAsync(ct);
        var apps = MonthlyCosts.AppsOf(budget, catalog, costCenters.CurrentValue).ToList();
        var owners = catalog.Where(a => apps.Contains(a.Id)).Select(a => a.Owner).Distinct().ToList();
        var throttles = message.Percent >= 100 && budget.ThrottleAtLimit;
        messages.Add(new NotifyPeople(Guid.NewGuid(), budget.Scope == Budgets.App ? budget.Key : "", $"budget-{message.Percent}",
            [notifications.Value.FinanceMailbox, .. owners],
            $"[governance-ledger] budget {budget.Scope} {budget.Key} {budget.Month} at {message.Percent}%",
            $"""
            The {budget.Month} budget of {budget.Scope} {budget.Key} is {budget.Amount} {budget.Currency}; the actual cost so far is {message.Actual} {budget.Currency}.
            {(throttles ? $"The budget throttles at its limit: {string.Join(", ", apps)} are held to one request a second until the month ends." : "")}

            GET /chargeback/budgets?month={budget.Month}
            """, now));
        if (throttles)
        {
            Budgets.TryParseMonth(budget.Month, out var first);
            var monthEnd = new DateTimeOffset(first.AddMonths(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            foreach (var app in apps) messages.Add(new ThrottleForBudget(app, budget.Id, monthEnd));
        }
        return messages;
    }
}

public static class ThrottleForBudgetHandler
{
    public static Decision Decide(App app, ThrottleForBudget message, DateTimeOffset now) =>
        app.Status == AppStatus.Active && !(app.ThrottledUntil >= message.Until)
            ? Decision.Accept(new AppThrottled(app.Id, 1, message.Until, $"budget {message.BudgetId} reached its limit", "budget-limit", 0, "ledger", now))
            : Decision.Accept();

    public static async Task<Events> Handle(ThrottleForBudget message, [WriteAggregate(Required = false)] IEventStream<App> app,
        IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        if (app.Aggregate is null) return [];
        var now = clock.GetUtcNow();
        return (await AppStream.DecideAsync(app, null, "throttle-for-budget", Security.Caller.Ledger, now, a => Decide(a, message, now), store, ct)).Events;
    }
}
