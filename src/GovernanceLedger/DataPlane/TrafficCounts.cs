using GovernanceLedger.Contracts.Access;

namespace GovernanceLedger.DataPlane;

/// <summary>Adds up a batch of data-plane events per app and minute (see <see cref="TrafficCounted"/>).</summary>
public static class TrafficCounts
{
    private sealed class Sums
    {
        public long Requests, Errors, Denials, Rows, Bytes;
        public double LatencyMs;
        public DateTimeOffset Last;
        public readonly HashSet<string> EndUsers = new(StringComparer.Ordinal);
        public readonly SortedSet<string> PiiFields = new(StringComparer.Ordinal);
        // Every end user, uncapped: a batch holds at most AccessLedger.MaxBatch events.
        public readonly SortedDictionary<string, PerUser> PerEndUser = new(StringComparer.Ordinal);

        public void Saw(DateTimeOffset at, string? endUser)
        {
            if (at > Last) Last = at;
            if (endUser is not null && EndUsers.Count < TrafficCounted.MaxEndUsers) EndUsers.Add(endUser);
        }

        public PerUser User(string endUser)
        {
            if (!PerEndUser.TryGetValue(endUser, out var user)) PerEndUser[endUser] = user = new PerUser();
            return user;
        }
    }

    private sealed class PerUser
    {
        public long Allowed, Denied;
        public SortedSet<string>? Regions;
    }

    public static IEnumerable<TrafficCounted> Of(IEnumerable<object> events)
    {
        var counts = new Dictionary<(string App, DateTimeOffset Minute), Sums>();
        // Accesses committed together count one by one.
        foreach (var e in events.SelectMany(e => e is AccessesRecorded packed ? packed.Accesses : (IEnumerable<object>)[e]))
        {
            var (app, when) = e switch
            {
                AccessRecorded x => (x.AppId, x.At),
                QueryExecuted x => (x.AppId, x.At),
                _ => (null, default)
            };
            if (app is null) continue;
            var key = (app, new DateTimeOffset(when.UtcTicks - when.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero));
            if (!counts.TryGetValue(key, out var sums)) counts[key] = sums = new Sums();
            switch (e)
            {
                case AccessRecorded x:
                    sums.Requests++;
                    if (x.Status >= 400) sums.Errors++;
                    if (x.Decision == AccessDecisions.Deny) sums.Denials++;
                    sums.Bytes += x.BytesOut;
                    sums.LatencyMs += x.LatencyMs;
                    // The data proxy's PII reads are counted from its query events, which name the dataset.
                    foreach (var field in x.MaskedFields ?? []) sums.PiiFields.Add($"{x.Route}.{field}");
                    sums.Saw(when, x.EndUser);
                    if (x.EndUser is not null)
                    {
                        var user = sums.User(x.EndUser);
                        if (x.Decision == AccessDecisions.Deny) user.Denied++;
                        else user.Allowed++;
                    }
                    break;
                case QueryExecuted x:
                    if (x.Request is { } request)
                    {
                        // The query's own request (older queries have theirs as an AccessRecorded): an allowed request.
                        sums.Requests++;
                        if (request.Status >= 400) sums.Errors++;
                        sums.Bytes += x.Bytes;
                        sums.LatencyMs += request.LatencyMs;
                        if (x.EndUser is not null) sums.User(x.EndUser).Allowed++;
                    }
                    sums.Rows += x.Rows;
                    foreach (var field in x.PiiFields ?? x.MaskedFields) sums.PiiFields.Add($"{x.Dataset}.{field}");
                    sums.Saw(when, x.EndUser);
                    if (x is { EndUser: { } endUser, RlsRegion: { Length: > 0 } region }) (sums.User(endUser).Regions ??= new(StringComparer.Ordinal)).Add(region);
                    break;
            }
        }
        return counts.Select(kv => new TrafficCounted(kv.Key.App, kv.Key.Minute, kv.Value.Requests, kv.Value.Errors, kv.Value.Denials, kv.Value.Rows,
            kv.Value.Last, kv.Value.Bytes, Math.Round(kv.Value.LatencyMs, 3),
            kv.Value.EndUsers.Count == 0 ? null : kv.Value.EndUsers.ToList(), kv.Value.PiiFields.Count == 0 ? null : kv.Value.PiiFields.ToList(),
            kv.Value.PerEndUser.Count == 0 ? null
                : kv.Value.PerEndUser.Select(u => new EndUserCount(u.Key, u.Value.Allowed, u.Value.Denied, u.Value.Regions?.ToList())).ToList()));
    }
}
