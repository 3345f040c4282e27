using GovernanceLedger.Contracts.Access;
using GovernanceLedger.DataPlane;
using GovernanceLedger.Projections.Chargeback;
using Shouldly;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>
/// A served query is recorded as one event that carries its request. Queries recorded before that have an access event
/// beside them: usage, chargeback sums and traffic counts must come out the same either way, and count each request once.
/// </summary>
public sealed class Query_access_event_unit_tests
{
    private static readonly DateTimeOffset At = new(2026, 11, 30, 8, 15, 30, TimeSpan.Zero);

    private static QueryExecuted Query(string requestId, QueryRequest? request) =>
        new(requestId, "crm-app", "u@example.com", "sales_data", ["order_id"], [], [], [], 10, 7, 420, 2.5, "role", "EMEA", "p", 1, null, At,
            Request: request);

    private static readonly QueryRequest Served = new("tok", "data", "data/sales_data", "POST", "/data/sales_data/query", 200, 4.0, 90);

    /// <summary>The same three queries recorded the old way (query event plus access event) and the new way (one event).</summary>
    private static (object[] Old, object[] New) Recorded()
    {
        var ids = new[] { "r1", "r2", "r3" };
        var old = ids.SelectMany(id => new object[]
        {
            Query(id, null),
            new AccessRecorded(id, "crm-app", null, "u@example.com", "tok", "data", "data/sales_data", "POST", "/data/sales_data/query", 200, 4.0, 90,
                420, AccessDecisions.Allow, "served", "p", 1, null, At)
        }).ToArray();
        return (old, ids.Select(id => (object)Query(id, Served)).ToArray());
    }

    [Fact]
    public void Usage_counts_a_query_that_carries_its_request_as_one_request_as_it_did_the_old_pair()
    {
        var (old, @new) = Recorded();
        var before = UsageDayProjection.Sums(old).ShouldHaveSingleItem();
        var after = UsageDayProjection.Sums(@new).ShouldHaveSingleItem();
        (after.Requests, after.Bytes, after.Rows, after.ComputeMilliseconds).ShouldBe((3L, 1260L, 21L, 7.5m));
        (after.Requests, after.Bytes, after.Rows, after.ComputeMilliseconds).ShouldBe((before.Requests, before.Bytes, before.Rows, before.ComputeMilliseconds));
    }

    [Fact]
    public void Traffic_counts_are_the_same_for_the_one_event_and_the_old_pair()
    {
        var (old, @new) = Recorded();
        var before = TrafficCounts.Of(old).ShouldHaveSingleItem();
        var after = TrafficCounts.Of(@new).ShouldHaveSingleItem();
        (after.Requests, after.Errors, after.Denials, after.Rows, after.Bytes, after.LatencyMs).ShouldBe((3L, 0L, 0L, 21L, 1260L, 12.0));
        (after.Requests, after.Errors, after.Denials, after.Rows, after.Bytes, after.LatencyMs)
            .ShouldBe((before.Requests, before.Errors, before.Denials, before.Rows, before.Bytes, before.LatencyMs));
        after.PerEndUser!.Select(u => $"{u.EndUser} {u.Allowed}/{u.Denied} [{string.Join(",", u.Regions ?? [])}]")
            .ShouldBe(before.PerEndUser!.Select(u => $"{u.EndUser} {u.Allowed}/{u.Denied} [{string.Join(",", u.Regions ?? [])}]"));
        after.PerEndUser!.ShouldHaveSingleItem().Allowed.ShouldBe(3);
    }
}
