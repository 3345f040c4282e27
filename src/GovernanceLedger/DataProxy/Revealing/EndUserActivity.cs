using GovernanceLedger.Contracts.Access;
using JasperFx.Events;
using Marten.Events.Projections;

namespace GovernanceLedger.DataProxy.Revealing;

/// <summary>
/// What the ledger has seen of one end user, across every app: denials per hour (the last two days), allowed requests
/// per day (the last two weeks) and the regions their queries ran in. The risk of revealing PII to them is read from it.
/// </summary>
public sealed class EndUserActivity
{
    public string Id { get; set; } = "";
    public Dictionary<string, int> DenialsByHour { get; set; } = [];
    public Dictionary<string, long> RequestsByDay { get; set; } = [];
    public Dictionary<string, DateTimeOffset> Regions { get; set; } = [];

    public static string Hour(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH", System.Globalization.CultureInfo.InvariantCulture);
    public static string Day(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Folds access and query events into <see cref="EndUserActivity"/> per end user, on Marten's async daemon.</summary>
public sealed partial class EndUserActivityProjection : MultiStreamProjection<EndUserActivity, string>
{
    public const string ProjectionName = "end-user-activity";
    /// <summary>Requests without an end user (an owner's token, an unauthenticated caller) fold here and are never read.</summary>
    public const string NoEndUser = "(none)";

    public EndUserActivityProjection()
    {
        Name = ProjectionName;
        Identity<AccessRecorded>(e => e.EndUser ?? NoEndUser);
        Identity<QueryExecuted>(e => e.EndUser ?? NoEndUser);
        // Evolve takes any event, so the daemon would load every event of the ledger for this projection: it loads these only.
        IncludeType<AccessRecorded>();
        IncludeType<QueryExecuted>();
    }

    public override EndUserActivity? Evolve(EndUserActivity? snapshot, string id, IEvent e)
    {
        if (id == NoEndUser) return null;
        var activity = snapshot ?? new EndUserActivity { Id = id };
        switch (e.Data)
        {
            case AccessRecorded { Decision: AccessDecisions.Deny } denied:
                activity.DenialsByHour[EndUserActivity.Hour(denied.At)] = activity.DenialsByHour.GetValueOrDefault(EndUserActivity.Hour(denied.At)) + 1;
                Prune(activity, denied.At);
                break;
            case AccessRecorded allowed:
                activity.RequestsByDay[EndUserActivity.Day(allowed.At)] = activity.RequestsByDay.GetValueOrDefault(EndUserActivity.Day(allowed.At)) + 1;
                Prune(activity, allowed.At);
                break;
            case QueryExecuted { RlsRegion: { Length: > 0 } region } query:
                activity.Regions.TryAdd(region, query.At);
                break;
        }
        return activity;
    }

    private static void Prune(EndUserActivity activity, DateTimeOffset now)
    {
        var oldestHour = EndUserActivity.Hour(now.AddHours(-48));
        foreach (var hour in activity.DenialsByHour.Keys.Where(h => string.CompareOrdinal(h, oldestHour) < 0).ToList()) activity.DenialsByHour.Remove(hour);
        var oldestDay = EndUserActivity.Day(now.AddDays(-15));
        foreach (var day in activity.RequestsByDay.Keys.Where(d => string.CompareOrdinal(d, oldestDay) < 0).ToList()) activity.RequestsByDay.Remove(day);
    }
}

/// <summary>The inputs of a reveal decision, as recorded with every reveal, and the score the reveal policy compares.</summary>
public sealed record RiskAssessment(int Score, int Denials24h, long RequestsToday, long UsualRequestsPerDay, bool NewRegion, string? Region,
    IReadOnlyList<string> Reasons)
{
    /// <summary>
    /// Ten points per denial in the last 24 hours, 40 for a region the user's queries never ran in (a new user counts
    /// as new), 30 for today's requests at five times their usual day (15 at three times); at most 100.
    /// </summary>
    public static RiskAssessment Of(EndUserActivity? activity, string? region, DateTimeOffset now)
    {
        var reasons = new List<string>();
        var since = EndUserActivity.Hour(now.AddHours(-24));
        var denials = activity?.DenialsByHour.Where(h => string.CompareOrdinal(h.Key, since) > 0).Sum(h => h.Value) ?? 0;
        if (denials > 0) reasons.Add($"{denials} denied request(s) in the last 24 hours");
        var today = EndUserActivity.Day(now);
        var requestsToday = activity?.RequestsByDay.GetValueOrDefault(today) ?? 0;
        var earlier = activity?.RequestsByDay.Where(d => d.Key != today).Select(d => d.Value).Order().ToList() ?? [];
        var usual = earlier.Count == 0 ? 0 : earlier[earlier.Count / 2];
        var ratio = usual == 0 ? 0 : (double)requestsToday / usual;
        var newRegion = region is { Length: > 0 } && activity?.Regions.ContainsKey(region) != true;
        if (newRegion) reasons.Add(activity is null ? "no history for this user" : $"first use from region {region}");
        var volume = ratio >= 5 ? 30 : ratio >= 3 ? 15 : 0;
        if (volume > 0) reasons.Add($"{requestsToday} requests today against a usual {usual}");
        return new RiskAssessment(Math.Min(100, denials * 10 + (newRegion ? 40 : 0) + volume), denials, requestsToday, usual, newRegion, region, reasons);
    }
}
