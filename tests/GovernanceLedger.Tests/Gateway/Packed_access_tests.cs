using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.DataPlane;
using GovernanceLedger.Projections.Chargeback;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>
/// Allowed requests of one app committed in one batch are one ledger event (AccessesRecorded): whatever reads requests
/// (the auditor's timeline, usage and chargeback, the quota's recount) must see each of them once, and the row must be
/// what Marten itself would store.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Packed_access_tests(LedgerFixture ledger)
{
    private const int Burst = AccessLedger.MaxPacked + 8;

    [Fact]
    public async Task Requests_that_queued_behind_one_commit_are_committed_as_one_event_each_counted_billed_and_recounted_once()
    {
        var appId = await ledger.DataApp("packed", new JsonObject { ["requests_per_day"] = 10_000, ["requests_per_second"] = 1000 });
        // Without a second factor the masked PII is not revealed: each request is one access event and nothing else.
        var token = await ledger.AppTokenWithoutMfa(appId);
        // An instance of its own: nothing but this test's requests queues at its writer.
        await using var host = await LedgerFixture.StartHostAsync(ledger.ConnectionString, "Development", ledger.Clock, ledger.DataPlaneSettings());
        var directory = host.Services.GetRequiredService<AppDirectory>();
        // Loaded: the first read of the catalog has finished (an app can be found before it has, and requests are refused until then).
        await LedgerFixture.EventuallyAsync(() => Task.FromResult(directory.Loaded && directory.Find(appId) is { Status: "active" }), TimeSpan.FromSeconds(10));
        var writer = host.Services.GetRequiredService<AccessLedger>();
        var first = await ServeAsync(host, token, "/gw/crm/contacts?limit=1");
        first.Status.ShouldBe(200);
        var stream = AccessLedger.StreamPrefix(appId, ledger.Clock.GetUtcNow()) + writer.Instance;

        // Hold the writer: lock its stream's row, so its next commit waits and every request after it queues.
        await using var holder = new NpgsqlConnection(ledger.ConnectionString);
        await holder.OpenAsync();
        var hold = await holder.BeginTransactionAsync();
        await using (var lockStream = new NpgsqlCommand("select id from ledger.mt_streams where id = $1 for update", holder, hold))
        {
            lockStream.Parameters.Add(new NpgsqlParameter { Value = stream });
            (await lockStream.ExecuteScalarAsync()).ShouldNotBeNull();
        }
        var blocked = ServeAsync(host, token, "/gw/crm/contacts?limit=1");
        await LedgerFixture.EventuallyAsync(() => WriterWaitsOnALockAsync(), TimeSpan.FromSeconds(10));
        var burst = Enumerable.Range(0, Burst).Select(_ => ServeAsync(host, token, "/gw/crm/contacts?limit=2")).ToList();
        await LedgerFixture.EventuallyAsync(() => Task.FromResult(writer.Queued >= Burst), TimeSpan.FromSeconds(10));
        writer.Queued.ShouldBe(Burst);
        await hold.RollbackAsync();

        var served = await Task.WhenAll(burst.Prepend(blocked));
        served.ShouldAllBe(r => r.Status == 200);
        var all = served.Prepend(first).ToList();

        // As the ledger holds them: the two lone requests as themselves, the burst as one event of MaxPacked and one of the rest.
        var stored = await ledger.LedgerAccessEvents(appId, ledger.Clock.GetUtcNow());
        stored.OfType<AccessesRecorded>().Select(p => p.Accesses.Count).ShouldBe([AccessLedger.MaxPacked, Burst - AccessLedger.MaxPacked]);
        stored.OfType<AccessRecorded>().Count().ShouldBe(2);
        stored.Count.ShouldBe(4);
        stored.OfType<AccessesRecorded>().SelectMany(p => p.Accesses).Select(a => a.RequestId).ShouldBe(served.Skip(1).Select(r => r.RequestId), ignoreOrder: true);
        stored.OfType<AccessesRecorded>().ShouldAllBe(p => p.AppId == appId && p.At == p.Accesses.Max(a => a.At));

        // Every request once, each as its own access event would have it.
        var accesses = (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().ToList();
        accesses.Select(a => a.RequestId).ShouldBe(all.Select(r => r.RequestId), ignoreOrder: true);
        accesses.ShouldAllBe(a => a.Decision == AccessDecisions.Allow && a.Status == 200 && a.AppId == appId);

        // Usage and chargeback bill each request once.
        var store = ledger.Host.Services.GetRequiredService<IDocumentStore>();
        await using (var query = store.QuerySession())
        {
            var usage = (await query.LoadAsync<UsageDay>(UsageDay.IdFor(appId, ledger.Clock.GetUtcNow())))!;
            (usage.Requests, usage.Bytes).ShouldBe((all.Count, accesses.Sum(a => a.BytesOut)));
        }
        var month = ledger.Clock.GetUtcNow().ToString("yyyy-MM");
        var chargeback = await ledger.Get($"/chargeback?month={month}&group_by=app", await ledger.PersonToken("finance@example.com", "finance"));
        chargeback.Status.ShouldBe(200, chargeback.Text);
        chargeback.Node("lines")!.AsArray().Single(l => l!["key"]!.GetValue<string>() == appId)!["requests"]!.GetValue<long>().ShouldBe(all.Count);

        // The auditor's timeline shows the burst as the events it is, each naming its requests.
        var timeline = await ledger.Get($"/audit/timeline?app_id={appId}&from={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(-1).ToString("O"))}",
            await ledger.PersonToken("auditor@example.com", "auditor"));
        timeline.Status.ShouldBe(200, timeline.Text);
        var packed = timeline.Node("items")!.AsArray().Where(i => i!["type"]!.GetValue<string>() == "accesses_recorded").ToList();
        packed.Select(i => i!["data"]!["Accesses"]!.AsArray().Count).ShouldBe([AccessLedger.MaxPacked, Burst - AccessLedger.MaxPacked]);
        packed.SelectMany(i => i!["data"]!["Accesses"]!.AsArray()).Select(a => a!["RequestId"]!.GetValue<string>())
            .ShouldBe(served.Skip(1).Select(r => r.RequestId), ignoreOrder: true);
        // What every access of the burst has in common is written once: the route, the decision, the status, the app.
        var shared = packed[0]!["data"]![AccessesRecordedJson.Shared]!.AsObject();
        (shared["Route"]?.GetValue<string>(), shared["Decision"]?.GetValue<string>(), shared["Status"]?.GetValue<int>(), shared["AppId"]?.GetValue<string>())
            .ShouldBe(("crm", AccessDecisions.Allow, 200, appId));
        packed[0]!["data"]!["Accesses"]!.AsArray().ShouldAllBe(a => a!["Route"] == null && a["Decision"] == null);

        // The row is what Marten's own append stores for the same event: alias, .NET type, tenant and JSON.
        var event0 = stored.OfType<AccessesRecorded>().First();
        var scratch = $"packed-equivalence:{Guid.NewGuid():N}";
        await using (var session = store.LightweightSession())
        {
            session.Events.Append(scratch, event0);
            await session.SaveChangesAsync();
        }
        var marten = await RowAsync("stream_id = $1", scratch);
        var ours = await RowAsync("stream_id = $1 and type = 'accesses_recorded' order by seq_id limit 1", stream);
        ours.ShouldBe(marten);
        // Several KB of JSON, compressed as it was appended, with LZ4 rather than pglz (this server offers LZ4).
        await using (var connection = new NpgsqlConnection(ledger.ConnectionString))
        {
            await connection.OpenAsync();
            await using var compression = new NpgsqlCommand(
                "select pg_column_compression(data) from ledger.mt_events where stream_id = $1 and type = 'accesses_recorded' order by seq_id limit 1", connection);
            compression.Parameters.Add(new NpgsqlParameter { Value = stream });
            (await compression.ExecuteScalarAsync()).ShouldBe("lz4");
        }

        // A lost day counter is recounted from the ledger with each packed access once, by the next instance to claim.
        await using (var connection = new NpgsqlConnection(ledger.ConnectionString))
        {
            await connection.OpenAsync();
            await using var delete = new NpgsqlCommand("delete from ledger.quota_counters where app_id = $1", connection);
            delete.Parameters.Add(new NpgsqlParameter { Value = appId });
            await delete.ExecuteNonQueryAsync();
        }
        (await ServeAsync(ledger.Host, token, "/gw/crm/contacts?limit=1")).Status.ShouldBe(200);
        (await UsedAsync(appId)).ShouldBe(all.Count + UsageLimits.LeaseSize(10_000));
    }

    private static async Task<(int Status, string RequestId)> ServeAsync(Alba.IAlbaHost host, string token, string path)
    {
        using var client = host.Server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        using var response = await client.GetAsync(path);
        return ((int)response.StatusCode, response.Headers.GetValues("X-Request-Id").Single());
    }

    private async Task<bool> WriterWaitsOnALockAsync()
    {
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select count(*) from pg_stat_activity where datname = current_database() and application_name like 'ledger-access-writer%' and wait_event_type = 'Lock'", connection);
        return (long)(await command.ExecuteScalarAsync())! > 0;
    }

    private async Task<(string Type, string DotNetType, string Tenant, string Data)> RowAsync(string where, string value)
    {
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select type, mt_dotnet_type, tenant_id, data::text from ledger.mt_events where {where}", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = value });
        await using var reader = await command.ExecuteReaderAsync();
        (await reader.ReadAsync()).ShouldBeTrue();
        return (reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3));
    }

    private async Task<long> UsedAsync(string appId)
    {
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select used from ledger.quota_counters where app_id = $1 and kind = 'requests'", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = appId });
        return (long)(await command.ExecuteScalarAsync())!;
    }
}

/// <summary>Which events of a batch are packed, and that every reader counts a packed event as the accesses it holds.</summary>
public sealed class Packed_access_unit_tests
{
    private static readonly DateTimeOffset At = new(2026, 11, 30, 23, 59, 59, TimeSpan.Zero);

    private static AccessRecorded Access(string id, string decision = AccessDecisions.Allow, DateTimeOffset? at = null, string app = "crm-app") =>
        new(id, app, null, "u@example.com", "tok", "gateway", "crm", "GET", "/gw/crm/contacts", decision == AccessDecisions.Allow ? 200 : 403, 3.0, 0, 250,
            decision, decision == AccessDecisions.Allow ? "served" : "scope", "p", 1, null, at ?? At);

    [Fact]
    public void Runs_of_allowed_accesses_of_one_app_and_day_are_packed_and_the_ledgers_order_stays_the_order_handed_over()
    {
        var nextDay = At.AddSeconds(2);
        var query = new QueryExecuted("q1", "crm-app", null, "sales", ["id"], [], [], [], 1, 1, 10, 1, "r", null, "p", 1, null, At);
        List<object> batch = [Access("a1"), Access("a2"), Access("d1", AccessDecisions.Deny), Access("a3"), query, Access("a4"), Access("a5"), Access("a6"),
            Access("n1", at: nextDay), Access("n2", at: nextDay), Access("d2", AccessDecisions.Deny), Access("a7")];

        var packed = AccessLedger.Packed(batch);

        packed.Select(e => e switch
        {
            AccessesRecorded p => "[" + string.Join(",", p.Accesses.Select(a => a.RequestId)) + "]",
            AccessRecorded a => a.RequestId,
            QueryExecuted q => q.RequestId,
            _ => "?"
        }).ShouldBe(["[a1,a2]", "d1", "a3", "q1", "[a4,a5,a6]", "[n1,n2]", "d2", "a7"]);
        packed.OfType<AccessesRecorded>().Select(p => p.At).ShouldBe([At, At, nextDay]);
    }

    [Fact]
    public void A_batch_with_no_run_of_two_allowed_accesses_of_one_app_and_day_is_stored_as_it_came()
    {
        List<object> batch = [Access("a1"), Access("b1", app: "other"), Access("d1", AccessDecisions.Deny), Access("a2"), Access("d2", AccessDecisions.Deny)];
        AccessLedger.Packed(batch).ShouldBeSameAs(batch);
    }

    [Fact]
    public void More_than_MaxPacked_are_cut_into_events_of_at_most_MaxPacked_and_a_lone_remainder_stays_itself()
    {
        var ids = Enumerable.Range(0, 2 * AccessLedger.MaxPacked + 1).Select(i => $"a{i}").ToList();
        var packed = AccessLedger.Packed(ids.Select(id => (object)Access(id)).ToList());
        packed.Count.ShouldBe(3);
        packed.Take(2).ShouldAllBe(e => e is AccessesRecorded && ((AccessesRecorded)e).Accesses.Count == AccessLedger.MaxPacked);
        packed[2].ShouldBeOfType<AccessRecorded>().RequestId.ShouldBe(ids[^1]);
        packed.SelectMany(e => e is AccessesRecorded p ? p.Accesses.Select(a => a.RequestId) : [((AccessRecorded)e).RequestId]).ShouldBe(ids);
    }

    [Fact]
    public void Usage_and_traffic_counts_of_a_packed_event_are_those_of_its_accesses_one_by_one()
    {
        var loose = Enumerable.Range(0, 5).Select(i => Access($"a{i}") with { BytesOut = 100 + i, LatencyMs = i }).ToList<object>();
        var packed = AccessLedger.Packed(loose);
        packed.ShouldHaveSingleItem().ShouldBeOfType<AccessesRecorded>();

        var before = UsageDayProjection.Sums(loose).ShouldHaveSingleItem();
        var after = UsageDayProjection.Sums(packed).ShouldHaveSingleItem();
        (after.Id, after.Requests, after.Bytes).ShouldBe((before.Id, 5L, 510L));

        // The projection's own fold (a rebuild) gives the same.
        var projection = new UsageDayProjection();
        var rebuilt = projection.Create((AccessesRecorded)packed[0]);
        (rebuilt.Id, rebuilt.Requests, rebuilt.Bytes).ShouldBe((before.Id, 5L, 510L));

        var counted = TrafficCounts.Of(packed).ShouldHaveSingleItem();
        var expected = TrafficCounts.Of(loose).ShouldHaveSingleItem();
        (counted.Requests, counted.Bytes, counted.LatencyMs, counted.PerEndUser!.Single().Allowed)
            .ShouldBe((expected.Requests, expected.Bytes, expected.LatencyMs, 5L));
    }
}

/// <summary>
/// The stored form of accesses committed together: what they share is written once, and every reader gets each access
/// back whole, from packs stored in this form and from packs stored before it.
/// </summary>
public sealed class Packed_access_json_tests
{
    private static readonly DateTimeOffset At = new(2026, 11, 30, 9, 15, 0, TimeSpan.Zero);

    private static AccessRecorded Access(int i) =>
        new($"req-{i}", "crm-app", null, "u@example.com", "tok", "gateway", "crm", "GET", "/gw/crm/contacts", 200, 1.25 + i, 0, 250,
            AccessDecisions.Allow, "served", "runtime-scopes-required", 1, null, At.AddTicks(i * 137), ["email", "phone"]);

    private static readonly System.Text.Json.JsonSerializerOptions Plain = new();
    private static readonly System.Text.Json.JsonSerializerOptions Web = new(System.Text.Json.JsonSerializerDefaults.Web);

    [Fact]
    public void Every_member_of_an_access_is_written_so_a_member_added_later_is_not_dropped_from_packs()
    {
        var members = typeof(AccessRecorded).GetConstructors().Single().GetParameters().Select(p => p.Name!);
        AccessesRecordedJson.Members.ShouldBe(members);
    }

    [Fact]
    public void Fields_the_accesses_share_are_written_once_nulls_are_left_out_and_each_access_reads_back_whole()
    {
        var accesses = Enumerable.Range(0, 20).Select(Access).ToList();
        var pack = new AccessesRecorded("crm-app", accesses[^1].At, accesses);

        var json = System.Text.Json.JsonSerializer.Serialize(pack, Plain);
        var stored = JsonNode.Parse(json)!.AsObject();
        stored[AccessesRecordedJson.Shared]!.AsObject().Select(p => p.Key).ShouldBe(
            ["AppId", "EndUser", "TokenId", "Plane", "Route", "Method", "Path", "Status", "BytesIn", "BytesOut", "Decision", "Reason", "PolicyId",
             "PolicyVersion", "MaskedFields"]);
        stored["Accesses"]!.AsArray().ShouldAllBe(a => a!.AsObject().Select(p => p.Key).SequenceEqual(new[] { "RequestId", "LatencyMs", "At" }));
        // The null ClaimedApp and TraceId are in neither part.
        json.ShouldNotContain("ClaimedApp");
        json.ShouldNotContain("TraceId");
        // Each access written whole would be over four times as much.
        var whole = System.Text.Json.JsonSerializer.Serialize(accesses, Plain);
        json.Length.ShouldBeLessThan(whole.Length / 4);

        var read = System.Text.Json.JsonSerializer.Deserialize<AccessesRecorded>(json, Plain)!;
        (read.AppId, read.At).ShouldBe((pack.AppId, pack.At));
        read.Accesses.Count.ShouldBe(accesses.Count);
        for (var i = 0; i < accesses.Count; i++) Same(read.Accesses[i], accesses[i]);
    }

    [Fact]
    public void Accesses_that_differ_in_any_field_keep_their_own_values_nulls_included()
    {
        List<AccessRecorded> accesses =
        [
            Access(0),
            Access(1) with { MaskedFields = null, EndUser = null, Status = 404, Path = "/gw/crm/contacts/7", TraceId = "4bf92f3577b34da6a3ce929d0e0e4736" },
            Access(2) with { MaskedFields = ["email"], At = Access(0).At, LatencyMs = Access(0).LatencyMs },
        ];
        var json = System.Text.Json.JsonSerializer.Serialize(new AccessesRecorded("crm-app", At, accesses), Web);
        // Names follow the options' naming policy, as every other member's do.
        JsonNode.Parse(json)!["shared"]!["route"]!.GetValue<string>().ShouldBe("crm");

        var read = System.Text.Json.JsonSerializer.Deserialize<AccessesRecorded>(json, Web)!;
        for (var i = 0; i < accesses.Count; i++) Same(read.Accesses[i], accesses[i]);
    }

    [Fact]
    public void A_pack_stored_before_the_shared_form_each_access_whole_reads_the_same()
    {
        var accesses = Enumerable.Range(0, 3).Select(Access).ToList();
        var older = new JsonObject
        {
            ["At"] = At.ToString("O"),
            ["AppId"] = "crm-app",
            ["Accesses"] = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(accesses, Plain)),
        }.ToJsonString();

        var read = System.Text.Json.JsonSerializer.Deserialize<AccessesRecorded>(older, Plain)!;
        read.Accesses.Count.ShouldBe(3);
        for (var i = 0; i < accesses.Count; i++) Same(read.Accesses[i], accesses[i]);
    }

    [Theory]
    [InlineData("[]", "object")]
    [InlineData("{\"At\":\"2026-11-30T09:15:00+00:00\",\"Shared\":{},\"Accesses\":[]}", "AppId")]
    [InlineData("{\"AppId\":\"a\",\"Shared\":{},\"Accesses\":[]}", "At")]
    [InlineData("{\"AppId\":\"a\",\"At\":\"2026-11-30T09:15:00+00:00\",\"Shared\":{},\"Accesses\":[7]}", "object")]
    public void A_malformed_pack_is_refused_naming_what_is_wrong(string json, string named) =>
        Should.Throw<System.Text.Json.JsonException>(() => System.Text.Json.JsonSerializer.Deserialize<AccessesRecorded>(json, Plain)).Message.ShouldContain(named);

    private static void Same(AccessRecorded read, AccessRecorded written)
    {
        read.MaskedFields.ShouldBe(written.MaskedFields);
        (read with { MaskedFields = null }).ShouldBe(written with { MaskedFields = null });
        read.At.Offset.ShouldBe(written.At.Offset);
    }
}
