using GovernanceLedger.Contracts.Access;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>
/// One app's recent traffic, minute by minute, and its baselines: what the detectors compare. Folded from the
/// app's traffic summaries by <see cref="AppActivityProjection"/> on Marten's async daemon.
/// <para>
/// Two baselines: <see cref="Recent"/> follows about the last hour, and <see cref="HourOfWeek"/> keeps one per hour of
/// the week (UTC), so Monday 09:00 is compared with earlier Mondays at 09:00. An hour of the week is trusted once
/// <see cref="HourOfWeekWarmUp"/> of its minutes were seen; until then the recent baseline stands in, once
/// <see cref="WarmUpMinutes"/> minutes were seen.
/// </para>
/// </summary>
public sealed class AppActivity
{
    /// <summary>Completed minutes folded into the recent baseline before detectors trust it.</summary>
    public const int WarmUpMinutes = 10;
    /// <summary>The recent baseline follows roughly the last hour: each new minute weighs 1/60 once warm.</summary>
    public const int BaselineMinutes = 60;
    /// <summary>Minutes of one hour of the week seen (over one or more weeks) before that hour's baseline is used.</summary>
    public const int HourOfWeekWarmUp = 30;
    /// <summary>An hour of the week follows about its last two weeks: each new minute weighs 1/120 once warm.</summary>
    public const int HourOfWeekMinutes = 120;
    /// <summary>Distinct end users are counted exactly up to this many a minute; above it the count is this bound.</summary>
    public const int MaxEndUsersPerMinute = 1000;
    /// <summary>PII fields remembered as read; an app reading more than this many distinct ones is flagged on each new one anyway.</summary>
    public const int MaxPiiFields = 500;
    private const int Kept = 15;

    public string Id { get; set; } = "";
    public List<MinuteCounts> Minutes { get; set; } = [];
    public Baseline Recent { get; set; } = new();
    /// <summary>Keyed by hour of the week, UTC: 0 is Monday 00:00-00:59, 167 is Sunday 23:00-23:59.</summary>
    public Dictionary<int, Baseline> HourOfWeek { get; set; } = [];
    /// <summary>Every PII field the app has read, as "dataset.field" (data proxy) or "route.field" (gateway).</summary>
    public List<string> PiiFieldsRead { get; set; } = [];
    public DateTimeOffset UpdatedAt { get; set; }
    /// <summary>While a throttle holds, the minutes are not the app's normal and stay out of its baselines.</summary>
    public DateTimeOffset? ThrottledUntil { get; set; }

    public bool Warm => Recent.Minutes >= WarmUpMinutes;
    public MinuteCounts Current => Minutes[^1];

    public static int HourOfWeekOf(DateTimeOffset at) => ((int)at.UtcDateTime.DayOfWeek + 6) % 7 * 24 + at.UtcDateTime.Hour;

    /// <summary>The baseline the current minute is judged against, and which one it is ("hour_of_week" or "recent").</summary>
    public (Baseline Baseline, string Source) InForce()
    {
        if (Minutes.Count > 0 && HourOfWeek.TryGetValue(HourOfWeekOf(Current.Minute), out var hour) && hour.Minutes >= HourOfWeekWarmUp)
            return (hour, "hour_of_week");
        return (Recent, "recent");
    }

    public AppActivity Observe(DateTimeOffset at, Action<MinuteCounts> count)
    {
        var minute = new DateTimeOffset(at.UtcTicks - at.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);
        if (Minutes.Count == 0) Minutes.Add(new MinuteCounts { Minute = minute });
        // Every minute that ended, quiet ones included, goes into the baselines (at most an hour's worth at once).
        while (Minutes[^1].Minute < minute)
        {
            var ended = Minutes[^1];
            Fold(ended);
            var next = ended.Minute.AddMinutes(1);
            Minutes.Add(new MinuteCounts { Minute = minute - next > TimeSpan.FromMinutes(BaselineMinutes) ? minute : next });
            if (Minutes.Count > Kept) Minutes.RemoveAt(0);
        }
        // An event from a minute already closed (a slow commit) counts where it belongs if that minute is still kept.
        count(Minutes.LastOrDefault(m => m.Minute == minute) ?? Minutes[^1]);
        UpdatedAt = at > UpdatedAt ? at : UpdatedAt;
        return this;
    }

    /// <summary>Counts one traffic summary; PII fields never read before are remembered and named as new in their minute.</summary>
    public void Count(MinuteCounts minute, TrafficCounted e)
    {
        minute.Add(e);
        foreach (var field in e.PiiFields ?? [])
        {
            if (!minute.PiiFields.Contains(field)) minute.PiiFields.Add(field);
            if (PiiFieldsRead.Contains(field)) continue;
            if (!minute.NewPiiFields.Contains(field)) minute.NewPiiFields.Add(field);
            if (PiiFieldsRead.Count < MaxPiiFields) PiiFieldsRead.Add(field);
        }
    }

    // A runaway app must not raise its own baseline: minutes an anomaly was found in, or throttled, are left out.
    private void Fold(MinuteCounts ended)
    {
        ended.Close();
        if (ended.Anomalous || ThrottledUntil is { } until && ended.Minute < until) return;
        Recent.Fold(ended, BaselineMinutes);
        var hour = HourOfWeekOf(ended.Minute);
        if (!HourOfWeek.TryGetValue(hour, out var slot)) HourOfWeek[hour] = slot = new Baseline();
        slot.Fold(ended, HourOfWeekMinutes);
    }
}

/// <summary>What one app's minutes usually look like: running averages, each new minute weighing 1/min(minutes seen, span).</summary>
public sealed class Baseline
{
    public int Minutes { get; set; }
    public double RequestsPerMinute { get; set; }
    public double ErrorRate { get; set; }
    public double DenialsPerMinute { get; set; }
    public double RowsPerMinute { get; set; }
    public double BytesPerMinute { get; set; }
    /// <summary>Mean request latency, over minutes that had requests.</summary>
    public double LatencyMs { get; set; }
    public double EndUsersPerMinute { get; set; }

    public void Fold(MinuteCounts minute, int span)
    {
        Minutes++;
        var weight = 1.0 / Math.Min(Minutes, span);
        RequestsPerMinute += (minute.Requests - RequestsPerMinute) * weight;
        ErrorRate += (minute.ErrorRate - ErrorRate) * weight;
        DenialsPerMinute += (minute.Denials - DenialsPerMinute) * weight;
        RowsPerMinute += (minute.Rows - RowsPerMinute) * weight;
        BytesPerMinute += (minute.Bytes - BytesPerMinute) * weight;
        EndUsersPerMinute += (minute.DistinctEndUsers - EndUsersPerMinute) * weight;
        // A quiet minute has no latency: it leaves the average where it was (or starts it).
        if (minute.Requests > 0) LatencyMs = LatencyMs == 0 ? minute.LatencyMs : LatencyMs + (minute.LatencyMs - LatencyMs) * weight;
    }
}

/// <summary>
/// One minute of an app's traffic: every request (allowed or not), errors (answered 400 or above), denials, rows and
/// bytes read, latency, distinct end users, and the PII fields read (those read for the first time named apart).
/// </summary>
public sealed class MinuteCounts
{
    public DateTimeOffset Minute { get; set; }
    public long Requests { get; set; }
    public long Errors { get; set; }
    public long Denials { get; set; }
    public long Rows { get; set; }
    public long Bytes { get; set; }
    public double LatencyMsTotal { get; set; }
    public int DistinctEndUsers { get; set; }
    /// <summary>The minute's end users while it is current; emptied when it ends (only the count is kept).</summary>
    public HashSet<string> EndUsers { get; set; } = [];
    public List<string> PiiFields { get; set; } = [];
    public List<string> NewPiiFields { get; set; } = [];
    /// <summary>A detector fired on this minute.</summary>
    public bool Anomalous { get; set; }
    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;
    public double LatencyMs => Requests == 0 ? 0 : LatencyMsTotal / Requests;

    public void Add(TrafficCounted e)
    {
        Requests += e.Requests;
        Errors += e.Errors;
        Denials += e.Denials;
        Rows += e.Rows;
        Bytes += e.Bytes;
        LatencyMsTotal += e.LatencyMs;
        foreach (var user in e.EndUsers ?? [])
        {
            if (DistinctEndUsers >= AppActivity.MaxEndUsersPerMinute) break;
            if (EndUsers.Add(user)) DistinctEndUsers = EndUsers.Count;
        }
    }

    public void Close() => EndUsers = [];
}
