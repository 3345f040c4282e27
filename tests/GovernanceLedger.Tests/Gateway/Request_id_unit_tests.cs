using GovernanceLedger.DataPlane;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>Request ids name a request in its response, its access event and the timeline: unique, time-ordered UUIDs.</summary>
public sealed class Request_id_unit_tests
{
    [Fact]
    public void Request_ids_are_version_7_uuids_that_parse_start_with_the_time_and_never_repeat_across_threads()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        // Several threads, each past its pool's refill (400 ids a pool).
        Parallel.For(0, 8, _ => { for (var i = 0; i < 1_000; i++) ids.Add(RequestIds.Next()); });
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        ids.Distinct().Count().ShouldBe(8_000);
        foreach (var id in ids)
        {
            id.Length.ShouldBe(32);
            id.ShouldAllBe(c => char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c));
            id[12].ShouldBe('7');
            "89ab".ShouldContain(id[16]);
            Guid.ParseExact(id, "N").Version.ShouldBe(7);
            Convert.ToInt64(id[..12], 16).ShouldBeInRange(before, after);
        }
    }
}
