using GovernanceLedger.Contracts.Apps;
using Marten;

namespace GovernanceLedger.Apps.IssuingTokens;

/// <summary>
/// Token issuances are frequent, so they live in one stream per app per day rather than in the
/// lifecycle stream: loading an app for a decision stays cheap however many tokens it has had.
/// </summary>
public static class TokenStreams
{
    public static string For(string appId, DateTimeOffset at) => $"app-tokens:{appId}:{at.UtcDateTime:yyyy-MM-dd}";

    /// <summary>
    /// Ids of tokens still within their lifetime. A token lives at most a day, so today's and
    /// yesterday's streams hold every one of them.
    /// </summary>
    public static async Task<IReadOnlyList<string>> LiveTokenIdsAsync(IQuerySession session, string appId, DateTimeOffset now, CancellationToken ct)
    {
        var live = new List<string>();
        foreach (var day in new[] { now.AddDays(-1), now })
        {
            var events = await session.Events.FetchStreamAsync(For(appId, day), token: ct);
            live.AddRange(events.Select(e => e.Data).OfType<AppTokenIssued>().Where(t => t.ExpiresAt > now).Select(t => t.TokenId));
        }
        return live;
    }
}
