using GovernanceLedger.Contracts.Access;
using Marten.Events.Projections;

namespace GovernanceLedger.Projections.Chargeback;

/// <summary>One app's billable data-plane usage on one UTC day. Prices are applied when read, from the rate card in force that day.</summary>
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

    private static UsageDay New(string appId, DateTimeOffset at) =>
        new() { Id = UsageDay.IdFor(appId, at), AppId = appId, Day = DateOnly.FromDateTime(at.UtcDateTime) };

    public void Apply(AccessRecorded e, UsageDay day)
    {
        if (e.Decision != AccessDecisions.Allow) return;
        day.Requests++;
        day.Bytes += e.BytesOut;
    }

    public void Apply(QueryExecuted e, UsageDay day)
    {
        day.Rows += e.Rows;
        day.ComputeMilliseconds += (decimal)e.DurationMs;
        day.ScannedRows += e.ScannedRows;
        day.ScannedBytes += e.ScannedBytes;
    }
}
