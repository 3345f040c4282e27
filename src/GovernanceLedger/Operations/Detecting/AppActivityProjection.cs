using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.Policies;
using JasperFx.Events;
using Marten;
using Marten.Events.Projections;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>
/// Folds every app's traffic (its counts in the per-batch <see cref="TrafficSummarized"/> summaries, and the single-app
/// <see cref="TrafficCounted"/> ones written before them) into <see cref="AppActivity"/> on Marten's async daemon, and after each batch
/// lets the detector policies (stage <c>detect</c>) judge the app's current minute against its baseline. A firing
/// becomes an <see cref="AnomalySuspected"/> message, which the app's own command handler turns into events.
/// Side effects are raised only while following the ledger live, never when the projection is rebuilt.
/// </summary>
public sealed partial class AppActivityProjection : MultiStreamProjection<AppActivity, string>
{
    private readonly PolicyEngine _policies;

    public AppActivityProjection(PolicyEngine policies)
    {
        _policies = policies;
        Name = ReadModelNamesForOperations.AppActivity;
        Identity<TrafficCounted>(e => e.AppId);
        Identities<TrafficSummarized>(e => e.Counts.Select(c => c.AppId).Distinct(StringComparer.Ordinal).ToList());
        Identity<AnomalyDetected>(e => e.AppId);
        Identity<AppThrottled>(e => e.AppId);
        Identity<AppThrottleLifted>(e => e.AppId);
        // Evolve takes any event, so the daemon would load every event of the ledger for this projection: it loads these only.
        IncludeType<TrafficCounted>();
        IncludeType<TrafficSummarized>();
        IncludeType<AnomalyDetected>();
        IncludeType<AppThrottled>();
        IncludeType<AppThrottleLifted>();
    }

    public override AppActivity? Evolve(AppActivity? snapshot, string id, IEvent e)
    {
        var activity = snapshot ?? new AppActivity { Id = id };
        return e.Data switch
        {
            TrafficCounted x => activity.Observe(x.Minute, m => activity.Count(m, x)),
            TrafficSummarized x => Counted(activity, x.Counts.Where(c => c.AppId == id)),
            // An alert changes nothing about the traffic; a throttle or pause marks the minute as not the app's normal.
            AnomalyDetected { Action: PolicyOutcomes.Alert } => activity,
            AnomalyDetected x => activity.Observe(x.At, m => m.Anomalous = true),
            AppThrottled x => Throttled(activity, x),
            AppThrottleLifted => Lifted(activity),
            _ => activity
        };
    }

    private static AppActivity Counted(AppActivity activity, IEnumerable<TrafficCounted> counts)
    {
        foreach (var counted in counts) activity = activity.Observe(counted.Minute, m => activity.Count(m, counted));
        return activity;
    }

    private static AppActivity Throttled(AppActivity activity, AppThrottled e)
    {
        activity.ThrottledUntil = e.Until;
        return activity;
    }

    private static AppActivity Lifted(AppActivity activity)
    {
        activity.ThrottledUntil = null;
        return activity;
    }

    public override ValueTask RaiseSideEffects(IDocumentOperations operations, IEventSlice<AppActivity> slice)
    {
        if (slice.Snapshot is not { Minutes.Count: > 0 } activity || activity.Id == "unauthenticated") return ValueTask.CompletedTask;
        if (!_policies.Policies.Any(p => p.Document.Stage == PolicyStages.Detect)) return ValueTask.CompletedTask;
        var fired = _policies.EvaluateStage(PolicyStages.Detect, Detectors.Input(activity)).Where(v => v.Fired).ToList();
        // One action per app and batch, for the most severe firing: the ledger acts once, so several would only race.
        var acting = fired.Where(v => v.Outcome != PolicyOutcomes.Alert)
            .OrderBy(v => v.Outcome == PolicyOutcomes.Pause ? 0 : 1).ThenBy(v => v.PolicyId, StringComparer.Ordinal).FirstOrDefault();
        if (acting is not null) slice.PublishMessage(Detectors.Suspect(activity, acting));
        // Alerts change nothing but the record, so each is reported.
        foreach (var alert in fired.Where(v => v.Outcome == PolicyOutcomes.Alert)) slice.PublishMessage(Detectors.Suspect(activity, alert));
        return ValueTask.CompletedTask;
    }
}

public static class ReadModelNamesForOperations
{
    public const string AppActivity = "app-activity";
}
