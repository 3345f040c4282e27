using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.Infrastructure;
using JasperFx.Events;
using Marten;
using GovernanceLedger.Operations.Notifying;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Marten;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>
/// The ledger's answer to a detector firing, on the app's own stream: first a throttle (the rate held to the
/// app's baseline for <see cref="ThrottleFor"/>), then, if the anomaly goes on while throttled or a detector asks
/// for it, a security pause that only a reviewer lifts. Each step records its evidence.
/// </summary>
public static class AnomalySuspectedHandler
{
    public static readonly TimeSpan ThrottleFor = TimeSpan.FromMinutes(15);
    /// <summary>Firings within this long of the last action are the same anomaly, already acted on.</summary>
    public static readonly TimeSpan OneActionPer = TimeSpan.FromMinutes(1);
    public const string Actor = "ledger";

    public static Decision Decide(App app, AnomalySuspected seen, DateTimeOffset now)
    {
        if (app.Status != AppStatus.Active) return Decision.Accept();
        // An alert is recorded once per detector and minute, however many batches of that minute it fired on.
        if (seen.Effect == PolicyOutcomes.Alert)
            return app.AlertedWindows.GetValueOrDefault(seen.PolicyId) == seen.Window
                ? Decision.Accept()
                : Decision.Accept(Detected(app, seen, PolicyOutcomes.Alert, now));
        if (app.LastAnomalyAt is { } last && now - last < OneActionPer) return Decision.Accept();
        var throttled = app.ThrottledUntil is { } until && now < until;
        var pause = throttled || seen.Effect == PolicyOutcomes.Pause;
        var reason = $"{seen.PolicyId} v{seen.PolicyVersion}: {string.Join("; ", seen.Findings)}";
        var detected = Detected(app, seen, pause ? PolicyOutcomes.Pause : PolicyOutcomes.Throttle, now);
        if (pause)
            return Decision.Accept(detected, new AppPaused(app.Id,
                (throttled ? "The anomaly went on while the app was throttled. " : "") + reason, Actor, now, BySecurity: true));
        // Held to its baseline rate (at least one request a second) while people look.
        var perSecond = Math.Max(1, (int)Math.Ceiling(seen.BaselineRequestsPerMinute / 60));
        return Decision.Accept(detected, new AppThrottled(app.Id, perSecond, now + ThrottleFor, reason, seen.PolicyId, seen.PolicyVersion, Actor, now));
    }

    private static AnomalyDetected Detected(App app, AnomalySuspected seen, string action, DateTimeOffset now) =>
        new(app.Id, seen.PolicyId, seen.PolicyVersion, seen.Metric, seen.Window, seen.Value, seen.Baseline, seen.Findings, action, Actor, now,
            seen.BaselineSource);

    /// <summary>Two detectors firing at once on one app race for its stream: the loser tries again, reads the winner's action and stands down.</summary>
    public static void Configure(Wolverine.Runtime.Handlers.HandlerChain chain) =>
        chain.OnException<JasperFx.ConcurrencyException>().Or<JasperFx.Events.EventStreamUnexpectedMaxEventIdException>()
            .RetryWithCooldown(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250));

    public static async Task<(Events, OutgoingMessages)> Handle(AnomalySuspected message, [WriteAggregate(Required = false)] IEventStream<App> app,
        IDocumentStore store, TimeProvider clock, Telemetry.LedgerTelemetry telemetry, IOptions<NotificationOptions> notifications, CancellationToken ct)
    {
        var messages = new OutgoingMessages();
        if (app.Aggregate is not { } current) return ([], messages);
        var now = clock.GetUtcNow();
        var outcome = await AppStream.DecideAsync(app, null, "act-on-anomaly", Security.Caller.Ledger, now, a => Decide(a, message, now), store, ct);
        foreach (var acted in outcome.Events.OfType<AnomalyDetected>())
        {
            telemetry.Anomalies.Add(1, new("app_id", acted.AppId), new("policy_id", acted.PolicyId), new("action", acted.Action));
            // The owner and security hear of it from the same transaction that records it.
            messages.Add(Notice(current, acted, outcome.Events, notifications.Value.SecurityMailbox));
        }
        // The throttle's end is recorded when it comes, unless a reviewer lifts it first.
        foreach (var throttled in outcome.Events.OfType<AppThrottled>())
            messages.Schedule(new ThrottleExpired(throttled.AppId, throttled.Until), throttled.Until);
        return (outcome.Events, messages);
    }

    private static NotifyPeople Notice(App app, AnomalyDetected acted, IEnumerable<object> events, string security)
    {
        var throttle = events.OfType<AppThrottled>().FirstOrDefault();
        var what = acted.Action switch
        {
            PolicyOutcomes.Pause => "The ledger paused the app. A security reviewer must look at it before it is resumed.",
            PolicyOutcomes.Alert => "The ledger recorded this on the app's timeline and did not slow the app. Check that it is expected.",
            _ => $"The ledger throttled the app to {throttle?.RequestsPerSecond} requests per second until {throttle?.Until:O}."
        };
        return new NotifyPeople(Guid.NewGuid(), app.Id, $"app-{acted.Action}", [app.Owner, security],
            $"[governance-ledger] {app.Id}: {acted.Action switch { PolicyOutcomes.Pause => "paused after", PolicyOutcomes.Alert => "alert on", _ => "throttled after" }} an anomaly ({acted.PolicyId})",
            $"""
            {what}

            Detector: {acted.PolicyId} v{acted.PolicyVersion}
            Metric: {acted.Metric} over {acted.Window}: {acted.Value} against a baseline of {acted.Baseline} ({acted.BaselineSource ?? "recent"})
            Findings: {string.Join("; ", acted.Findings)}

            Evidence and history: GET /ops/apps/{app.Id} and GET /apps/{app.Id}/events
            """, acted.At);
    }
}
