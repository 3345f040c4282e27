using GovernanceLedger.Contracts.Access;
using GovernanceLedger.DataPlane;
using GovernanceLedger.DataProxy.Revealing;
using JasperFx.Events;
using Shouldly;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>An end user's risk inputs, folded from the per-batch traffic summaries rather than from every request.</summary>
public sealed class End_user_activity_tests
{
    private static readonly DateTimeOffset At = new(2026, 11, 30, 8, 15, 30, TimeSpan.Zero);

    private static AccessRecorded Access(string? user, string decision, DateTimeOffset at, string app = "crm-app") =>
        new(Guid.NewGuid().ToString("N"), app, null, user, "t", "gateway", "crm", "GET", "/x", decision == "deny" ? 403 : 200, 1, 0, 10,
            decision, "r", null, null, null, at);

    private static QueryExecuted Query(string user, string? region, DateTimeOffset at) =>
        new(Guid.NewGuid().ToString("N"), "crm-app", user, "sales_data", ["order_id"], [], [], [], 10, 3, 100, 1, "role", region, "p", 1, null, at);

    /// <summary>A committed batch as the writer summarizes it: one summary holding every app's counts.</summary>
    private static EndUserActivity? Fold(IEnumerable<object> batch, string user, EndUserActivity? snapshot = null)
    {
        var summary = new TrafficSummarized(At, TrafficCounts.Of(batch).ToList());
        var projection = new EndUserActivityProjection();
        return projection.Evolve(snapshot, user, new Event<TrafficSummarized>(summary));
    }

    [Fact]
    public void A_batch_counts_each_end_users_allowed_and_denied_requests_and_the_regions_their_queries_ran_in()
    {
        var counted = TrafficCounts.Of([
            Access("a@example.com", "allow", At), Access("a@example.com", "deny", At), Access("a@example.com", "deny", At),
            Access("b@example.com", "allow", At), Query("b@example.com", "EMEA", At), Query("b@example.com", "", At), Access(null, "deny", At)
        ]).ShouldHaveSingleItem();
        counted.PerEndUser!.Select(u => $"{u.EndUser} {u.Allowed}/{u.Denied} [{string.Join(",", u.Regions ?? [])}]")
            .ShouldBe(["a@example.com 1/2 []", "b@example.com 1/0 [EMEA]"]);
    }

    [Fact]
    public void Folded_summaries_give_the_same_risk_as_the_requests_they_count()
    {
        // Yesterday: 4 requests; today: 20 requests, 3 denials in two hours, one of them last night, and a first query from APAC.
        var batches = new List<object[]>
        {
            Enumerable.Range(0, 4).Select(i => (object)Access("u@example.com", "allow", At.AddDays(-1).AddMinutes(i))).ToArray(),
            new object[] { Query("u@example.com", "EMEA", At.AddDays(-1)) },
            Enumerable.Range(0, 20).Select(i => (object)Access("u@example.com", "allow", At.AddSeconds(i))).ToArray(),
            new object[] { Access("u@example.com", "deny", At.AddHours(-10)), Access("u@example.com", "deny", At), Access("u@example.com", "deny", At.AddMinutes(1)) },
            new object[] { Query("u@example.com", "APAC", At), Access("someone-else@example.com", "deny", At, "other-app") }
        };
        EndUserActivity? activity = null;
        foreach (var batch in batches) activity = Fold(batch, "u@example.com", activity);

        activity.ShouldNotBeNull();
        activity.RequestsByDay.ShouldBe(new Dictionary<string, long> { ["2026-11-29"] = 4, ["2026-11-30"] = 20 }, ignoreOrder: true);
        activity.DenialsByHour.Values.Sum().ShouldBe(3);
        activity.Regions.Keys.ShouldBe(["EMEA", "APAC"], ignoreOrder: true);
        var risk = RiskAssessment.Of(activity, "APAC", At.AddMinutes(2));
        (risk.Denials24h, risk.RequestsToday, risk.UsualRequestsPerDay, risk.NewRegion).ShouldBe((3, 20L, 4L, false));
        risk.Score.ShouldBe(30 + 30);   // three denials and five times a usual day's requests
        RiskAssessment.Of(activity, "LATAM", At.AddMinutes(2)).NewRegion.ShouldBeTrue();
    }

    [Fact]
    public void One_summary_of_a_batch_across_apps_adds_up_an_end_users_requests_under_every_app_and_names_every_end_user()
    {
        var batch = new object[]
        {
            Access("u@example.com", "allow", At, "crm-app"), Access("u@example.com", "deny", At, "sales-app"), Access("u@example.com", "allow", At, "sales-app"),
            Access("v@example.com", "allow", At, "hr-app")
        };
        var summary = new TrafficSummarized(At, TrafficCounts.Of(batch).ToList());
        summary.Counts.Select(c => c.AppId).ShouldBe(["crm-app", "sales-app", "hr-app"], ignoreOrder: true);

        var projection = new EndUserActivityProjection();
        var activity = projection.Evolve(null, "u@example.com", new Event<TrafficSummarized>(summary))!;
        activity.RequestsByDay.Values.Sum().ShouldBe(2);
        activity.DenialsByHour.Values.Sum().ShouldBe(1);
        projection.Evolve(null, "v@example.com", new Event<TrafficSummarized>(summary))!.RequestsByDay.Values.Sum().ShouldBe(1);
        projection.Evolve(null, "nobody@example.com", new Event<TrafficSummarized>(summary)).ShouldBeNull();
    }

    [Fact]
    public void A_summary_naming_thousands_of_end_users_folds_each_one_its_own_counts()
    {
        var batch = Enumerable.Range(0, 2_000).Select(i => (object)Access($"user{i}@example.com", i % 3 == 0 ? "deny" : "allow", At)).ToArray();
        var counted = TrafficCounts.Of(batch).ShouldHaveSingleItem();
        var projection = new EndUserActivityProjection();
        foreach (var i in new[] { 0, 1, 999, 1_998 })
        {
            var activity = projection.Evolve(null, $"user{i}@example.com", new Event<TrafficCounted>(counted))!;
            activity.DenialsByHour.Values.Sum().ShouldBe(i % 3 == 0 ? 1 : 0);
            activity.RequestsByDay.Values.Sum().ShouldBe(i % 3 == 0 ? 0 : 1);
        }
        projection.Evolve(null, "nobody@example.com", new Event<TrafficCounted>(counted)).ShouldBeNull();
    }
}
