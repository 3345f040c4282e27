namespace GovernanceLedger.Contracts.Chargeback;

/// <summary>Prices for data-plane usage from EffectiveFrom (UTC date) on. Amounts are decimals in Currency.</summary>
public sealed record RateCardChanged(
    string Currency, decimal PerRequest, decimal PerRow, decimal PerMegabyte, decimal PerComputeSecond,
    DateOnly EffectiveFrom, string Author, DateTimeOffset At);
