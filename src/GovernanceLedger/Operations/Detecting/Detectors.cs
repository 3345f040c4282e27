using GovernanceLedger.Policies;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>A detector policy fired on an app's traffic: what it saw, for the app's command handler to act on.</summary>
public sealed record AnomalySuspected(
    string AppId, string PolicyId, int PolicyVersion, string Effect, string Metric, string Window, double Value, double Baseline,
    IReadOnlyList<string> Findings, double BaselineRequestsPerMinute, DateTimeOffset At, string BaselineSource = "recent");

/// <summary>What the detector policies are given, and how a firing is described.</summary>
public static class Detectors
{
    /// <summary>
    /// <c>window</c>: the app's current minute: requests, errors, denials, rows, bytes, error_rate, latency_ms (mean),
    /// end_users (distinct), pii_fields (PII fields read) and new_pii_fields (those the app had never read before).
    /// <c>baseline</c>: the per-minute averages the minute is judged against: source ("hour_of_week" once that hour of the
    /// week is warm, else "recent", about the last hour), warm, minutes seen, the same measures per minute, and
    /// pii_fields (how many PII fields the app has read so far). Numbers are doubles, so policies compare them without
    /// integer/double mixing.
    /// </summary>
    public static Dictionary<string, object?> Input(AppActivity activity)
    {
        var now = activity.Current;
        var (baseline, source) = activity.InForce();
        return new Dictionary<string, object?>
        {
            ["window"] = new Dictionary<string, object?>
            {
                ["minutes"] = 1.0, ["requests"] = (double)now.Requests, ["errors"] = (double)now.Errors,
                ["denials"] = (double)now.Denials, ["rows"] = (double)now.Rows, ["bytes"] = (double)now.Bytes, ["error_rate"] = now.ErrorRate,
                ["latency_ms"] = now.LatencyMs, ["end_users"] = (double)now.DistinctEndUsers,
                ["pii_fields"] = now.PiiFields.ToList<object?>(), ["new_pii_fields"] = now.NewPiiFields.ToList<object?>()
            },
            ["baseline"] = new Dictionary<string, object?>
            {
                ["source"] = source, ["warm"] = source == "hour_of_week" || activity.Warm, ["minutes"] = (double)baseline.Minutes,
                ["requests_per_minute"] = baseline.RequestsPerMinute, ["rows_per_minute"] = baseline.RowsPerMinute,
                ["bytes_per_minute"] = baseline.BytesPerMinute, ["error_rate"] = baseline.ErrorRate,
                ["denials_per_minute"] = baseline.DenialsPerMinute, ["latency_ms"] = baseline.LatencyMs,
                ["end_users_per_minute"] = baseline.EndUsersPerMinute, ["pii_fields"] = (double)activity.PiiFieldsRead.Count
            }
        };
    }

    /// <summary>
    /// The metric a policy watches is named by the first word of its id after "detect-" (requests, errors, rows, bytes,
    /// latency, users, denials, pii); evidence is the current minute's value of it and the baseline in force.
    /// </summary>
    public static AnomalySuspected Suspect(AppActivity activity, PolicyVerdict verdict)
    {
        var now = activity.Current;
        var (baseline, source) = activity.InForce();
        var metric = verdict.PolicyId.StartsWith("detect-", StringComparison.Ordinal) ? verdict.PolicyId["detect-".Length..].Split('-')[0] : verdict.PolicyId;
        var (value, usual) = metric switch
        {
            "errors" => (now.ErrorRate, baseline.ErrorRate),
            "rows" => ((double)now.Rows, baseline.RowsPerMinute),
            "bytes" => ((double)now.Bytes, baseline.BytesPerMinute),
            "latency" => (now.LatencyMs, baseline.LatencyMs),
            "users" => ((double)now.DistinctEndUsers, baseline.EndUsersPerMinute),
            "denials" => ((double)now.Denials, baseline.DenialsPerMinute),
            "pii" => ((double)now.NewPiiFields.Count, (double)activity.PiiFieldsRead.Count - now.NewPiiFields.Count),
            _ => ((double)now.Requests, baseline.RequestsPerMinute)
        };
        return new AnomalySuspected(activity.Id, verdict.PolicyId, verdict.Version, verdict.Outcome, metric,
            $"{now.Minute:yyyy-MM-ddTHH:mm}Z/PT1M", Math.Round(value, 4), Math.Round(usual, 4), verdict.Findings,
            baseline.RequestsPerMinute, activity.UpdatedAt, source);
    }
}
