using GovernanceLedger.Policies;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>A detector policy fired on an app's traffic: what it saw, for the app's command handler to act on.</summary>
public sealed record AnomalySuspected(
    string AppId, string PolicyId, int PolicyVersion, string Effect, string Metric, string Window, double Value, double Baseline,
    IReadOnlyList<string> Findings, double BaselineRequestsPerMinute, DateTimeOffset At);

/// <summary>What the detector policies are given, and how a firing is described.</summary>
public static class Detectors
{
    /// <summary>
    /// <c>window</c>: the app's current minute (requests, errors, denials, rows, error_rate);
    /// <c>baseline</c>: per-minute averages over about the last hour and whether enough minutes were seen (warm).
    /// Numbers are doubles, so policies compare them without integer/double mixing.
    /// </summary>
    public static Dictionary<string, object?> Input(AppActivity activity)
    {
        var now = activity.Current;
        return new Dictionary<string, object?>
        {
            ["window"] = new Dictionary<string, object?>
            {
                ["minutes"] = 1.0, ["requests"] = (double)now.Requests, ["errors"] = (double)now.Errors,
                ["denials"] = (double)now.Denials, ["rows"] = (double)now.Rows, ["error_rate"] = now.ErrorRate
            },
            ["baseline"] = new Dictionary<string, object?>
            {
                ["requests_per_minute"] = activity.BaselineRequestsPerMinute, ["rows_per_minute"] = activity.BaselineRowsPerMinute,
                ["error_rate"] = activity.BaselineErrorRate, ["warm"] = activity.Warm, ["minutes"] = (double)activity.BaselineMinutesSeen
            }
        };
    }

    /// <summary>The metric a policy watches is named by the first word of its id after "detect-" (requests, errors, rows...).</summary>
    public static AnomalySuspected Suspect(AppActivity activity, PolicyVerdict verdict)
    {
        var now = activity.Current;
        var metric = verdict.PolicyId.StartsWith("detect-", StringComparison.Ordinal) ? verdict.PolicyId["detect-".Length..].Split('-')[0] : verdict.PolicyId;
        var (value, baseline) = metric switch
        {
            "errors" => (now.ErrorRate, activity.BaselineErrorRate),
            "rows" => ((double)now.Rows, activity.BaselineRowsPerMinute),
            "denials" => ((double)now.Denials, 0.0),
            _ => ((double)now.Requests, activity.BaselineRequestsPerMinute)
        };
        return new AnomalySuspected(activity.Id, verdict.PolicyId, verdict.Version, verdict.Outcome, metric,
            $"{now.Minute:yyyy-MM-ddTHH:mm}Z/PT1M", Math.Round(value, 4), Math.Round(baseline, 4), verdict.Findings,
            activity.BaselineRequestsPerMinute, activity.UpdatedAt);
    }
}
