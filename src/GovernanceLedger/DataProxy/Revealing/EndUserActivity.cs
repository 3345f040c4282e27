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

/// <summary>
/// Folds the per-batch traffic summaries (<see cref="TrafficSummarized"/>, and the single-app <see cref="TrafficCounted"/>
/// written before them; each app's <see cref="TrafficCounted.PerEndUser"/>) into <see cref="EndUserActivity"/> per end
/// user, on Marten's async daemon: one summary per committed batch rather than every request.
/// </summary>
public sealed partial class EndUserActivityProjection : MultiStreamProjection<EndUserActivity, string>
{
    public const string ProjectionName = "end-user-activity";

    public EndUserActivityProjection()
    {
        Name = ProjectionName;
        Identities<TrafficCounted>(e => e.PerEndUser?.Select(u => u.EndUser).ToList() ?? []);
        Identities<TrafficSummarized>(e => e.Counts.SelectMany(c => c.PerEndUser ?? []).Select(u => u.EndUser).Distinct(StringComparer.Ordinal).ToList());
        // Evolve takes any event, so the daemon would load every event of the ledger for this projection: it loads these only.
        IncludeType<TrafficCounted>();
        IncludeType<TrafficSummarized>();
    }

    public override EndUserActivity? Evolve(EndUserActivity? snapshot, string id, IEvent e) => e.Data switch
    {
        TrafficCounted counted => Count(snapshot, id, counted),
        // One batch's summary: the end user's counts under every app and minute it holds.
        TrafficSummarized summary => summary.Counts.Aggregate(snapshot, (activity, counted) => Count(activity, id, counted)),
        _ => snapshot
    };

    private static EndUserActivity? Count(EndUserActivity? snapshot, string id, TrafficCounted counted)
    {
        if (counted.PerEndUser is not { } users || Find(counted, users, id) is not { } user) return snapshot;
        var activity = snapshot ?? new EndUserActivity { Id = id };
        if (user.Denied > 0)
        {
            var hour = EndUserActivity.Hour(counted.Minute);
            activity.DenialsByHour[hour] = activity.DenialsByHour.GetValueOrDefault(hour) + (int)Math.Min(user.Denied, int.MaxValue);
        }
        if (user.Allowed > 0)
        {
            var day = EndUserActivity.Day(counted.Minute);
            activity.RequestsByDay[day] = activity.RequestsByDay.GetValueOrDefault(day) + user.Allowed;
        }
        foreach (var region in user.Regions ?? []) activity.Regions.TryAdd(region, counted.Minute);
        Prune(activity, counted.Minute);
        return activity;
    }

    /// <summary>The end user's counts in a summary: looked up by name, indexed once per summary (a batch may name thousands).</summary>
    private static EndUserCount? Find(TrafficCounted counted, IReadOnlyList<EndUserCount> users, string id)
    {
        if (users.Count <= 8) return users.FirstOrDefault(u => u.EndUser == id);
        var index = Indexes.GetValue(counted, c => c.PerEndUser!.GroupBy(u => u.EndUser, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal));
        return index.GetValueOrDefault(id);
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<TrafficCounted, Dictionary<string, EndUserCount>> Indexes = new();

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
