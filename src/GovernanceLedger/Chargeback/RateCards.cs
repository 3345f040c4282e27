using GovernanceLedger.Contracts.Chargeback;
using Marten;

namespace GovernanceLedger.Chargeback;

/// <summary>The rate card as configured under "Chargeback:RateCard".</summary>
public sealed class RateCardOptions
{
    public string Currency { get; init; } = "EUR";
    public decimal PerRequest { get; init; }
    public decimal PerRow { get; init; }
    public decimal PerMegabyte { get; init; }
    public decimal PerComputeSecond { get; init; }
    /// <summary>The price of a megabyte scanned by a warehouse query (its cost tag).</summary>
    public decimal PerScannedMegabyte { get; init; }
    public DateOnly EffectiveFrom { get; init; } = new(2026, 1, 1);
    public string Author { get; init; } = "finance@example.com";
}

/// <summary>
/// Publishes the configured rate card into the ledger when it differs from the last one, and
/// answers which card was in force on a given day. Cards are never edited: a change is a new
/// event with its own effective date.
/// </summary>
public sealed class RateCards(IDocumentStore store, Microsoft.Extensions.Options.IOptions<RateCardOptions> options, TimeProvider clock) : IHostedService
{
    public const string StreamId = "chargeback-rate-card";

    public async Task StartAsync(CancellationToken ct)
    {
        var o = options.Value;
        await using var session = store.LightweightSession();
        var cards = await CardsAsync(session, ct);
        var latest = cards.LastOrDefault();
        if (latest is not null && latest.Currency == o.Currency && latest.PerRequest == o.PerRequest && latest.PerRow == o.PerRow
            && latest.PerMegabyte == o.PerMegabyte && latest.PerComputeSecond == o.PerComputeSecond && latest.EffectiveFrom == o.EffectiveFrom
            && latest.PerScannedMegabyte == o.PerScannedMegabyte)
            return;
        session.Events.Append(StreamId, new RateCardChanged(o.Currency, o.PerRequest, o.PerRow, o.PerMegabyte, o.PerComputeSecond,
            o.EffectiveFrom, o.Author, clock.GetUtcNow(), o.PerScannedMegabyte));
        await session.SaveChangesAsync(ct);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Every card ever published, in ledger order.</summary>
    public static async Task<IReadOnlyList<RateCardChanged>> CardsAsync(IQuerySession session, CancellationToken ct) =>
        (await session.Events.FetchStreamAsync(StreamId, token: ct)).Select(e => e.Data).OfType<RateCardChanged>().ToList();

    /// <summary>The card in force on a day: the latest-published card whose effective date has come.</summary>
    public static RateCardChanged? InForce(IReadOnlyList<RateCardChanged> cards, DateOnly day) =>
        cards.Where(c => c.EffectiveFrom <= day).OrderBy(c => c.EffectiveFrom).LastOrDefault();
}
