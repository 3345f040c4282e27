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
}
