using GovernanceLedger.Contracts.Access;
using Marten.Events.Projections;

namespace GovernanceLedger.Projections.Chargeback;

/// <summary>
/// One app's billable data-plane usage on one UTC day. Prices are applied when read, from the rate card in force that day.
/// Every number is a sum over the day's events (the data plane adds batches to it in place): keep it so.
/// </summary>
public sealed class UsageDay
{
    public string Id { get; set; } = "";
    public string AppId { get; set; } = "";
    public DateOnly Day { get; set; }
    public long Requests { get; set; }
    public long Rows { get; set; }
    public long Bytes { get; set; }
    public decimal ComputeMilliseconds { get; set; }
    /// <summary>What warehouse queries scanned (their cost tags).</summary>
    public long ScannedRows { get; set; }
    public long ScannedBytes { get; set; }

    public static string IdFor(string appId, DateTimeOffset at) => $"{appId}:{at.UtcDateTime:yyyy-MM-dd}";
}

/// <summary>
/// Sums allowed requests (gateway, data proxy and topic records), bytes served or produced, and rows and query time per app
/// per day. Denied requests are not billed. Inline: usage is current the moment its events commit.
/// </summary>
public partial class UsageDayProjection : MultiStreamProjection<UsageDay, string>
{
    public UsageDayProjection()
    {
        Identity<AccessRecorded>(e => UsageDay.IdFor(e.AppId, e.At));
        Identity<QueryExecuted>(e => UsageDay.IdFor(e.AppId, e.At));
        Identity<AccessesRecorded>(e => UsageDay.IdFor(e.AppId, e.At));
    }

    // A day's first event creates its document and still counts: Create consumes the event, so it applies it too.
    public UsageDay Create(AccessRecorded e)
    {
        var day = New(e.AppId, e.At);
        Apply(e, day);
        return day;
    }

    public UsageDay Create(QueryExecuted e)
    {
        var day = New(e.AppId, e.At);
        Apply(e, day);
        return day;
    }

    public UsageDay Create(AccessesRecorded e)
    {
        var day = New(e.AppId, e.At);
        Apply(e, day);
        return day;
    }

    private static UsageDay New(string appId, DateTimeOffset at) =>
        new() { Id = UsageDay.IdFor(appId, at), AppId = appId, Day = DateOnly.FromDateTime(at.UtcDateTime) };

    public void Apply(AccessRecorded e, UsageDay day)
    {
        if (e.Decision != AccessDecisions.Allow) return;
        day.Requests++;
        day.Bytes += e.BytesOut;
    }

    /// <summary>Accesses committed together count as they would one by one (they are all of one app and day).</summary>
    public void Apply(AccessesRecorded e, UsageDay day)
    {
        foreach (var access in e.Accesses) Apply(access, day);
    }

    public void Apply(QueryExecuted e, UsageDay day)
    {
        // A query that carries its request is that request's access event too (older ones have an AccessRecorded beside them).
        if (e.Request is not null)
        {
            day.Requests++;
            day.Bytes += e.Bytes;
        }
        day.Rows += e.Rows;
        day.ComputeMilliseconds += (decimal)e.DurationMs;
        day.ScannedRows += e.ScannedRows;
        day.ScannedBytes += e.ScannedBytes;
    }

    /// <summary>
    /// What a run of events adds to each day, by this projection's own rules: one fresh document per app and day,
    /// holding the sums of just these events. Every number of a <see cref="UsageDay"/> is a sum over its events, so the
    /// data plane's group commit (which appends outside a session) adds these to the stored documents; a rebuild folds
    /// the same events the ordinary way and arrives at the same documents.
    /// </summary>
    public static IReadOnlyList<UsageDay> Sums(IEnumerable<object> events)
    {
        var days = new Dictionary<string, UsageDay>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (IdOf(e) is not { } id) continue;
            switch (e)
            {
                case AccessRecorded x when days.TryGetValue(id, out var day): Rules.Apply(x, day); break;
                case AccessRecorded x: days[id] = Rules.Create(x); break;
                case QueryExecuted x when days.TryGetValue(id, out var day): Rules.Apply(x, day); break;
                case QueryExecuted x: days[id] = Rules.Create(x); break;
                case AccessesRecorded x when days.TryGetValue(id, out var day): Rules.Apply(x, day); break;
                case AccessesRecorded x: days[id] = Rules.Create(x); break;
            }
        }
        return days.Values.ToList();
    }

    // Built once: a projection's constructor reflects over its methods, too slow for every group commit. Its rules keep no state.
    private static readonly UsageDayProjection Rules = new();

    private static string? IdOf(object e) => e switch
    {
        AccessRecorded x => UsageDay.IdFor(x.AppId, x.At),
        QueryExecuted x => UsageDay.IdFor(x.AppId, x.At),
        AccessesRecorded x => UsageDay.IdFor(x.AppId, x.At),
        _ => null
    };
}
