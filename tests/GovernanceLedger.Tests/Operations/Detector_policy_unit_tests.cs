using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Operations.Detecting;
using GovernanceLedger.Policies;

namespace GovernanceLedger.Tests.Operations;

/// <summary>The shipped detector policies, compiled from their files and judged on made-up minutes: no host, no database.</summary>
public sealed class Detector_policy_unit_tests
{
    private static readonly PolicyEngine Engine = Load();

    private static PolicyEngine Load()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory!.FullName, "GovernanceLedger.sln"))) directory = directory.Parent;
        var engine = new PolicyEngine();
        engine.Replace(Directory.GetFiles(Path.Combine(directory.FullName, "policies"), "detect-*.policy.yaml")
            .Select(f => PolicyEngine.Compile(PolicyDocument.Parse(File.ReadAllText(f), Path.GetFileName(f)), 1, DateTimeOffset.UnixEpoch)));
        return engine;
    }

    /// <summary>An app with a warm baseline of <paramref name="baselinePerMinute"/> requests and rows a minute, then one minute as given.</summary>
    private static AppActivity Activity(double baselinePerMinute, long requests, long errors = 0, long denials = 0, long rows = 0)
    {
        var activity = new AppActivity { Id = "probe" };
        var start = new DateTimeOffset(2026, 11, 29, 8, 0, 0, TimeSpan.Zero);
        for (var minute = 0; minute < AppActivity.WarmUpMinutes; minute++)
            activity.Observe(start.AddMinutes(minute), m => { m.Requests = (long)baselinePerMinute; m.Rows = (long)baselinePerMinute; });
        activity.Observe(start.AddMinutes(AppActivity.WarmUpMinutes), m => { m.Requests = requests; m.Errors = errors; m.Denials = denials; m.Rows = rows; });
        return activity;
    }

    private static IReadOnlyList<string> Fired(AppActivity activity) =>
        Engine.EvaluateStage(PolicyStages.Detect, Detectors.Input(activity)).Where(v => v.Fired).Select(v => v.PolicyId).Order().ToList();

    [Fact]
    public void A_quiet_minute_like_the_baseline_fires_nothing() => Fired(Activity(10, requests: 12, rows: 12)).ShouldBeEmpty();

    [Fact]
    public void Requests_over_ten_times_the_baseline_fire_the_surge_detector() =>
        Fired(Activity(5, requests: 51)).ShouldBe(["detect-requests-surge"]);

    [Fact]
    public void A_surge_before_the_baseline_is_warm_fires_nothing()
    {
        var cold = new AppActivity { Id = "cold" };
        cold.Observe(DateTimeOffset.UnixEpoch, m => m.Requests = 500);
        Fired(cold).ShouldBeEmpty();
    }

    [Fact]
    public void Errors_above_two_percent_of_at_least_fifty_requests_fire_and_below_fifty_do_not()
    {
        Fired(Activity(100, requests: 100, errors: 3)).ShouldBe(["detect-errors-spike"]);
        Fired(Activity(100, requests: 100, errors: 2)).ShouldBeEmpty();
        Fired(Activity(40, requests: 40, errors: 10)).ShouldBeEmpty();
    }

    [Fact]
    public void Rows_over_ten_times_the_baseline_fire_the_rows_detector() =>
        Fired(Activity(200, requests: 200, rows: 2_500)).ShouldBe(["detect-rows-surge"]);

    [Fact]
    public void Mostly_refused_requests_fire_the_denials_detector() =>
        Fired(Activity(100, requests: 40, errors: 0, denials: 25)).ShouldBe(["detect-denials-burst"]);

    [Fact]
    public void A_batch_summary_across_apps_counts_for_each_app_only_its_own_traffic()
    {
        var minute = new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
        var summary = new TrafficSummarized(minute, [
            new TrafficCounted("crm-app", minute, 7, 1, 0, 0, minute), new TrafficCounted("hr-app", minute, 3, 0, 2, 0, minute),
            new TrafficCounted("crm-app", minute.AddMinutes(1), 4, 0, 0, 0, minute.AddMinutes(1))
        ]);
        // Evolve reads no policy: the detectors run after it, on the whole slice.
        var projection = new AppActivityProjection(null!);
        var crm = projection.Evolve(null, "crm-app", new JasperFx.Events.Event<TrafficSummarized>(summary))!;
        crm.Minutes.Sum(m => m.Requests).ShouldBe(11);
        crm.Minutes.Sum(m => m.Errors).ShouldBe(1);
        var hr = projection.Evolve(null, "hr-app", new JasperFx.Events.Event<TrafficSummarized>(summary))!;
        (hr.Minutes.Sum(m => m.Requests), hr.Minutes.Sum(m => m.Denials)).ShouldBe((3L, 2L));
    }

    private static TrafficCounted Traffic(DateTimeOffset minute, long requests, params string[] pii) =>
        new("probe", minute, requests, 0, 0, 0, minute, PiiFields: pii.Length == 0 ? null : pii);

    [Fact]
    public void A_PII_field_first_read_after_warm_up_raises_an_alert_once_and_fields_learned_during_warm_up_do_not()
    {
        var activity = new AppActivity { Id = "probe" };
        var start = new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
        for (var minute = 0; minute < AppActivity.WarmUpMinutes; minute++)
            activity.Observe(start.AddMinutes(minute), m => activity.Count(m, Traffic(start.AddMinutes(minute), 5, "customers.email")));
        var now = start.AddMinutes(AppActivity.WarmUpMinutes);
        activity.Observe(now, m => activity.Count(m, Traffic(now, 5, "customers.email")));
        Fired(activity).ShouldBeEmpty();

        activity.Observe(now, m => activity.Count(m, Traffic(now, 5, "customers.email", "customers.phone")));
        Fired(activity).ShouldBe(["detect-pii-first-read"]);
        var alert = Engine.EvaluateStage(PolicyStages.Detect, Detectors.Input(activity)).Single(v => v.Fired);
        alert.Outcome.ShouldBe("alert");
        alert.Findings.ShouldBe(["first read of PII field customers.phone"]);
        var suspected = Detectors.Suspect(activity, alert);
        suspected.Metric.ShouldBe("pii");
        (suspected.Value, suspected.Baseline).ShouldBe((1.0, 1.0));

        // The next minute the field is known.
        var later = now.AddMinutes(1);
        activity.Observe(later, m => activity.Count(m, Traffic(later, 5, "customers.phone")));
        Fired(activity).ShouldBeEmpty();
        activity.PiiFieldsRead.ShouldBe(["customers.email", "customers.phone"]);
    }

    [Fact]
    public void A_busy_hour_of_the_week_is_judged_against_the_same_hour_of_earlier_weeks_not_the_quiet_hour_before_it()
    {
        // A week: two requests a minute, except Mondays 09:00-09:59 UTC, when the weekly report pulls a hundred a minute.
        static long Usual(DateTimeOffset at) => at.DayOfWeek == DayOfWeek.Monday && at.Hour == 9 ? 100 : 2;
        var activity = new AppActivity { Id = "probe" };
        var monday = new DateTimeOffset(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);
        for (var at = monday; at < monday.AddDays(7).AddHours(9); at = at.AddMinutes(1))
            activity.Observe(at, m => m.Requests = Usual(at));
        var nextReport = monday.AddDays(7).AddHours(9).AddMinutes(5);
        activity.Observe(nextReport, m => m.Requests = 100);

        // The last hour alone (two a minute, and five silent minutes) would call a hundred a surge.
        activity.Recent.RequestsPerMinute.ShouldBeLessThan(2.5);
        var (baseline, source) = activity.InForce();
        source.ShouldBe("hour_of_week");
        baseline.RequestsPerMinute.ShouldBeInRange(85, 100);   // last Monday's hour and this one's five silent minutes
        Fired(activity).ShouldBeEmpty();

        // Ten times that Monday hour still fires.
        activity.Observe(nextReport, m => m.Requests = 1_200);
        Fired(activity).ShouldBe(["detect-requests-surge"]);
        Detectors.Suspect(activity, Engine.EvaluateStage(PolicyStages.Detect, Detectors.Input(activity)).Single(v => v.Fired)).BaselineSource
            .ShouldBe("hour_of_week");
    }

    [Fact]
    public void Latency_bytes_end_users_and_PII_reads_are_counted_from_the_access_events_and_folded_into_the_baseline()
    {
        var at = new DateTimeOffset(2026, 11, 30, 8, 0, 30, TimeSpan.Zero);
        AccessRecorded Access(string user, int status, double latency, long bytes, string route = "crm", IReadOnlyList<string>? masked = null) =>
            new(Guid.NewGuid().ToString("N"), "probe", null, user, "t", "gateway", route, "GET", "/x", status, latency, 0, bytes,
                status < 400 ? "allow" : "deny", "r", null, null, null, at, masked);
        var events = new object[]
        {
            Access("a@example.com", 200, 10, 100, masked: ["email"]),
            Access("b@example.com", 200, 30, 300),
            Access("a@example.com", 403, 2, 0),
            new QueryExecuted("q", "probe", "b@example.com", "customers", ["customer_id", "phone"], [], [], [], 10, 7, 500, 3, "role", "EMEA",
                "p", 1, null, at, ["phone"])
        };
        var counted = GovernanceLedger.DataPlane.TrafficCounts.Of(events).ShouldHaveSingleItem();
        (counted.Requests, counted.Errors, counted.Denials, counted.Rows, counted.Bytes, counted.LatencyMs).ShouldBe((3L, 1L, 1L, 7L, 400L, 42.0));
        counted.EndUsers.ShouldBe(["a@example.com", "b@example.com"], ignoreOrder: true);
        counted.PiiFields.ShouldBe(["crm.email", "customers.phone"]);

        var activity = new AppActivity { Id = "probe" };
        for (var minute = 0; minute < AppActivity.WarmUpMinutes; minute++)
        {
            var t = counted with { Minute = at.AddMinutes(minute) };
            activity.Observe(t.Minute, m => activity.Count(m, t));
        }
        activity.Observe(at.AddMinutes(AppActivity.WarmUpMinutes), _ => { });
        activity.Recent.EndUsersPerMinute.ShouldBe(2, 0.001);
        activity.Recent.LatencyMs.ShouldBe(14, 0.001);
        activity.Recent.BytesPerMinute.ShouldBe(400, 0.001);
        activity.Recent.ErrorRate.ShouldBe(1.0 / 3, 0.001);
        activity.Minutes[^2].EndUsers.ShouldBeEmpty();   // an ended minute keeps its count, not the people
    }

    [Fact]
    public void An_alert_is_recorded_once_per_detector_and_minute_and_does_not_hold_back_a_throttle()
    {
        var at = new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
        var app = new GovernanceLedger.Apps.App { Id = "probe", Status = "active", Owner = "owner@example.com", Scopes = ["read:contacts"] };
        AnomalySuspected Seen(string policy, string effect, string window) =>
            new("probe", policy, 1, effect, "pii", window, 1, 1, ["first read of PII field customers.phone"], 2, at);

        var first = AnomalySuspectedHandler.Decide(app, Seen("detect-pii-first-read", "alert", "2026-11-30T08:00Z/PT1M"), at).Events;
        var alert = first.ShouldHaveSingleItem().ShouldBeOfType<GovernanceLedger.Contracts.Apps.AnomalyDetected>();
        alert.Action.ShouldBe("alert");
        app = GovernanceLedger.Apps.App.Replay(first, app);
        AnomalySuspectedHandler.Decide(app, Seen("detect-pii-first-read", "alert", "2026-11-30T08:00Z/PT1M"), at).Events.ShouldBeEmpty();
        AnomalySuspectedHandler.Decide(app, Seen("detect-pii-first-read", "alert", "2026-11-30T08:01Z/PT1M"), at.AddMinutes(1)).Events.ShouldHaveSingleItem();
        // A surge in the same second is still throttled.
        AnomalySuspectedHandler.Decide(app, Seen("detect-requests-surge", "throttle", "2026-11-30T08:00Z/PT1M"), at).Events
            .ShouldContain(e => e is GovernanceLedger.Contracts.Apps.AppThrottled);
    }
}
