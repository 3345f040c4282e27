using GovernanceLedger.Contracts.Access;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>
/// One app's recent traffic, minute by minute, and its baseline: what the detectors compare. Folded from the
/// app's access events by <see cref="AppActivityProjection"/> on Marten's async daemon.
/// </summary>
public sealed class AppActivity
{
    /// <summary>Completed minutes folded into the baseline before detectors trust it.</summary>
    public const int WarmUpMinutes = 10;
    /// <summary>The baseline follows roughly the last hour: each new minute weighs 1/60 once warm.</summary>
    public const int BaselineMinutes = 60;
    private const int Kept = 15;

    public string Id { get; set; } = "";
    public List<MinuteCounts> Minutes { get; set; } = [];
    public double BaselineRequestsPerMinute { get; set; }
    public double BaselineRowsPerMinute { get; set; }
    public double BaselineErrorRate { get; set; }
    public int BaselineMinutesSeen { get; set; }
    public bool Warm => BaselineMinutesSeen >= WarmUpMinutes;
    public DateTimeOffset UpdatedAt { get; set; }
    /// <summary>While a throttle holds, the minutes are not the app's normal and stay out of its baseline.</summary>
    public DateTimeOffset? ThrottledUntil { get; set; }

    public MinuteCounts Current => Minutes[^1];

    public AppActivity Observe(DateTimeOffset at, Action<MinuteCounts> count)
    {
        var minute = new DateTimeOffset(at.UtcTicks - at.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);
        if (Minutes.Count == 0) Minutes.Add(new MinuteCounts { Minute = minute });
        // Every minute that ended, quiet ones included, goes into the baseline (at most an hour's worth at once).
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

    // A runaway app must not raise its own baseline: minutes an anomaly was found in, or throttled, are left out.
    private void Fold(MinuteCounts ended)
    {
        if (ended.Anomalous || ThrottledUntil is { } until && ended.Minute < until) return;
        BaselineMinutesSeen++;
        var weight = 1.0 / Math.Min(BaselineMinutesSeen, BaselineMinutes);
        BaselineRequestsPerMinute += (ended.Requests - BaselineRequestsPerMinute) * weight;
        BaselineRowsPerMinute += (ended.Rows - BaselineRowsPerMinute) * weight;
        BaselineErrorRate += (ended.ErrorRate - BaselineErrorRate) * weight;
    }
}

/// <summary>One minute of an app's traffic: every request (allowed or not), errors (answered 400 or above), denials and rows read.</summary>
public sealed class MinuteCounts
{
    public DateTimeOffset Minute { get; set; }
    public long Requests { get; set; }
    public long Errors { get; set; }
    public long Denials { get; set; }
    public long Rows { get; set; }
    /// <summary>A detector fired on this minute.</summary>
    public bool Anomalous { get; set; }
    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;

    public void Add(TrafficCounted e)
    {
        Requests += e.Requests;
        Errors += e.Errors;
        Denials += e.Denials;
        Rows += e.Rows;
    }
}
