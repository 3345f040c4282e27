using GovernanceLedger.Contracts.Chargeback;
using Marten.Events.Aggregation;

namespace GovernanceLedger.Projections.Chargeback;

/// <summary>One monthly budget, the thresholds it has reached, and who set it.</summary>
public sealed class BudgetEntry
{
    public string Id { get; set; } = "";
    public string Scope { get; set; } = "";
    public string Key { get; set; } = "";
    public string Month { get; set; } = "";
    public decimal Amount { get; set; }
    public string Currency { get; set; } = "";
    public bool ThrottleAtLimit { get; set; }
    public string SetBy { get; set; } = "";
    public string Reason { get; set; } = "";
    public List<int> Reached { get; set; } = [];
    public DateTimeOffset UpdatedAt { get; set; }
    public long Version { get; set; }

    public static string StreamFor(string scope, string key, string month) => $"budget:{scope}:{key}:{month}";
}

/// <summary>Folds each budget's stream, inline.</summary>
public partial class BudgetProjection : SingleStreamProjection<BudgetEntry, string>
{
    public BudgetEntry Create(BudgetSet e)
    {
        var entry = new BudgetEntry { Id = BudgetEntry.StreamFor(e.Scope, e.Key, e.Month), Scope = e.Scope, Key = e.Key, Month = e.Month };
        Apply(e, entry);
        return entry;
    }

    // A budget set again replaces the amount; thresholds reached below the new amount count again.
    public void Apply(BudgetSet e, BudgetEntry entry)
    {
        if (e.Amount != entry.Amount) entry.Reached.Clear();
        entry.Amount = e.Amount;
        entry.Currency = e.Currency;
        entry.ThrottleAtLimit = e.ThrottleAtLimit;
        entry.SetBy = e.Actor;
        entry.Reason = e.Reason;
        entry.UpdatedAt = e.At;
    }

    public void Apply(BudgetThresholdReached e, BudgetEntry entry)
    {
        if (!entry.Reached.Contains(e.Percent)) entry.Reached.Add(e.Percent);
        entry.UpdatedAt = e.At;
    }
}
