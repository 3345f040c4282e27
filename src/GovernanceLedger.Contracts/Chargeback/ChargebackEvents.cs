namespace GovernanceLedger.Contracts.Chargeback;

/// <summary>
/// Prices for data-plane usage from EffectiveFrom (UTC date) on. Amounts are decimals in Currency. PerScannedMegabyte
/// prices what warehouse queries scan (absent from cards published before it existed: zero).
/// </summary>
public sealed record RateCardChanged(
    string Currency, decimal PerRequest, decimal PerRow, decimal PerMegabyte, decimal PerComputeSecond,
    DateOnly EffectiveFrom, string Author, DateTimeOffset At, decimal PerScannedMegabyte = 0);

/// <summary>
/// A monthly budget for one app or one cost centre (<paramref name="Scope"/> "app" or "cost_center"), in the rate
/// card's currency. With <paramref name="ThrottleAtLimit"/>, reaching it throttles the apps it covers until the month ends.
/// </summary>
public sealed record BudgetSet(string Scope, string Key, string Month, decimal Amount, string Currency, bool ThrottleAtLimit,
    string Reason, string Actor, DateTimeOffset At);

/// <summary>The month's actual cost reached <paramref name="Percent"/>% (80 or 100) of the budget.</summary>
public sealed record BudgetThresholdReached(string Scope, string Key, string Month, int Percent, decimal Actual, decimal Amount,
    string Currency, DateTimeOffset At);
