using GovernanceLedger.Contracts.Access;

namespace GovernanceLedger.DataPlane;

/// <summary>Adds up a batch of data-plane events per app and minute (see <see cref="TrafficCounted"/>).</summary>
public static class TrafficCounts
{
    public static IEnumerable<TrafficCounted> Of(IEnumerable<object> events)
    {
        var counts = new Dictionary<(string App, DateTimeOffset Minute), (long Requests, long Errors, long Denials, long Rows, DateTimeOffset Last)>();
        foreach (var e in events)
        {
            var (app, when) = e switch
            {
                AccessRecorded x => (x.AppId, x.At),
                QueryExecuted x => (x.AppId, x.At),
                _ => (null, default)
            };
            if (app is null) continue;
            var key = (app, new DateTimeOffset(when.UtcTicks - when.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero));
            var c = counts.GetValueOrDefault(key);
            counts[key] = e switch
            {
                AccessRecorded x => (c.Requests + 1, c.Errors + (x.Status >= 400 ? 1 : 0), c.Denials + (x.Decision == AccessDecisions.Deny ? 1 : 0), c.Rows,
                    when > c.Last ? when : c.Last),
                QueryExecuted x => (c.Requests, c.Errors, c.Denials, c.Rows + x.Rows, when > c.Last ? when : c.Last),
                _ => c
            };
        }
        return counts.Select(kv => new TrafficCounted(kv.Key.App, kv.Key.Minute, kv.Value.Requests, kv.Value.Errors, kv.Value.Denials, kv.Value.Rows, kv.Value.Last));
    }
}
