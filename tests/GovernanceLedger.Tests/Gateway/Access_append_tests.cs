using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Projections.Chargeback;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>
/// The data plane's group commit writes its events set-based, beside Marten's own append: what it stores must be what
/// Marten would have stored, or timelines, the daemon, rebuild and verify would read something else.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Access_append_tests(LedgerFixture ledger)
{
    private sealed record Row(long Sequence, string Stream, long Version, string Type, string DotNetType, string Tenant, bool Archived, string Data);

    private async Task<List<Row>> RowsOf(string streamPrefix)
    {
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select seq_id, stream_id, version, type, mt_dotnet_type, tenant_id, is_archived, data::text from ledger.mt_events where starts_with(stream_id, $1) order by seq_id",
            connection);
        command.Parameters.Add(new NpgsqlParameter { Value = streamPrefix });
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<Row>();
        while (await reader.ReadAsync())
            rows.Add(new Row(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                reader.GetBoolean(6), reader.GetString(7)));
        return rows;
    }

    private async Task<long> StreamVersion(string stream)
    {
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select version from ledger.mt_streams where id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = stream });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Access_events_are_stored_as_marten_stores_them_with_contiguous_versions_and_billed_once()
    {
        var appId = await ledger.DataApp("append");
        var token = await ledger.AppToken(appId);
        var served = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => ledger.Get("/gw/crm/contacts?limit=2", token)));
        served.ShouldAllBe(r => r.Status == 200);
        var refused = await ledger.Get("/gw/crm/contacts?limit=2", token + "x");
        refused.Status.ShouldBe(401);

        var prefix = GovernanceLedger.DataPlane.AccessLedger.StreamPrefix(appId, ledger.Clock.GetUtcNow());
        var rows = await RowsOf(prefix);
        var events = await ledger.AccessEvents(appId);
        events.OfType<AccessRecorded>().Count(e => e.Decision == AccessDecisions.Allow).ShouldBe(6);
        // Each row one event: an access, or allowed accesses committed together (AccessesRecorded).
        var stored = await ledger.LedgerAccessEvents(appId, ledger.Clock.GetUtcNow());
        rows.Count(r => r.Type is "access_recorded" or "accesses_recorded").ShouldBe(stored.Count(e => e is AccessRecorded or AccessesRecorded));
        // What the batches add up to is one summary per batch in the writer's own traffic stream, whatever apps it held.
        (await RowsOf("traffic:")).ShouldContain(r => r.Type == "traffic_summarized" && r.Data.Contains(appId, StringComparison.Ordinal));
        rows.ShouldNotContain(r => r.Type == "traffic_counted" || r.Type == "traffic_summarized");
        // Each stream's versions run 1..n in sequence order, and the stream row says n.
        foreach (var stream in rows.GroupBy(r => r.Stream))
        {
            stream.Select(r => r.Version).ShouldBe(Enumerable.Range(1, stream.Count()).Select(v => (long)v));
            (await StreamVersion(stream.Key)).ShouldBe(stream.Count());
        }

        var store = ledger.Host.Services.GetRequiredService<IDocumentStore>();
        // Usage is folded in the same transaction: six allowed requests, the refusal not billed.
        await using (var query = store.QuerySession())
        {
            var usage = await query.LoadAsync<UsageDay>(UsageDay.IdFor(appId, ledger.Clock.GetUtcNow()));
            usage.ShouldNotBeNull();
            usage.Requests.ShouldBe(6);
            usage.Bytes.ShouldBe(events.OfType<AccessRecorded>().Where(e => e.Decision == AccessDecisions.Allow).Sum(e => e.BytesOut));
        }

        // The same event appended through Marten's own session lands with the same alias, type name, tenant and JSON.
        var read = stored.First(e => e is AccessRecorded { Decision: AccessDecisions.Allow } or AccessesRecorded);
        var scratch = $"append-equivalence:{Guid.NewGuid():N}";
        await using (var session = store.LightweightSession())
        {
            session.Events.Append(scratch, read);
            await session.SaveChangesAsync();
        }
        var marten = (await RowsOf(scratch)).Single();
        // Both lists are the app's access streams in sequence order.
        rows.Count.ShouldBe(stored.Count);
        var bulk = rows[stored.ToList().IndexOf(read)];
        (bulk.Type, bulk.DotNetType, bulk.Tenant, bulk.Archived).ShouldBe((marten.Type, marten.DotNetType, marten.Tenant, marten.Archived));
        bulk.Data.ShouldBe(marten.Data);
        bulk.Tenant.ShouldBe("*DEFAULT*");
    }

    [Fact]
    public async Task A_request_whose_recorded_text_would_end_in_half_a_character_is_recorded_and_never_takes_others_down_with_it()
    {
        var appId = await ledger.DataApp("append-poison", new System.Text.Json.Nodes.JsonObject { ["requests_per_second"] = 1000 });
        var token = await ledger.AppToken(appId);
        // The recorded path is cut at 256 UTF-16 units; an emoji is two, so this cut falls between the halves of one. A lone
        // surrogate is text PostgreSQL's jsonb refuses, which would fail the whole group commit the request shares with
        // others; the serializer writes it as U+FFFD.
        var prefix = "/gw/crm/contacts/";
        var path = prefix + new string('a', 255 - prefix.Length) + string.Concat(Enumerable.Repeat("\U0001F600", 20));
        var poison = Enumerable.Range(0, 8).Select(_ => ledger.Get(Uri.EscapeDataString(path).Replace("%2F", "/"), token));
        var plain = Enumerable.Range(0, 24).Select(_ => ledger.Get("/gw/crm/contacts?limit=1", token));
        var all = await Task.WhenAll(poison.Concat(plain));

        all.Skip(8).ShouldAllBe(r => r.Status == 200);
        all.Take(8).ShouldAllBe(r => r.Status != 503 && r.Status < 500);
        var recorded = (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().ToList();
        foreach (var response in all) recorded.ShouldContain(e => e.RequestId == response.RequestId);
        recorded.Where(e => e.Path.StartsWith(prefix + "aaa", StringComparison.Ordinal))
            .ShouldAllBe(e => !char.IsHighSurrogate(e.Path[e.Path.Length - 1]) && e.Path.Length <= 256);
    }

    [Fact]
    public async Task Text_jsonb_refuses_in_an_unverified_token_is_recorded_with_its_denial_and_never_takes_others_down_with_it()
    {
        var appId = await ledger.DataApp("append-nul", new System.Text.Json.Nodes.JsonObject { ["requests_per_second"] = 1000 });
        var token = await ledger.AppToken(appId);
        // An unsigned token whose subject holds a NUL: JSON allows it, PostgreSQL's jsonb does not. The claimed subject is
        // recorded with the refusal, and that event shares its group commit with the genuine requests around it.
        static string Part(string json) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var forged = Part("""{"alg":"RS256","typ":"JWT"}""") + "." + Part("""{"sub":"app:x\u0000y","scopes":["read:contacts"]}""") + ".c2ln";
        var poison = Enumerable.Range(0, 6).Select(_ => ledger.Get("/gw/crm/contacts?limit=1", forged));
        var plain = Enumerable.Range(0, 18).Select(_ => ledger.Get("/gw/crm/contacts?limit=1", token));
        var all = await Task.WhenAll(poison.Concat(plain));

        all.Take(6).ShouldAllBe(r => r.Status == 401);
        all.Skip(6).ShouldAllBe(r => r.Status == 200);
        var served = (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().ToList();
        foreach (var response in all.Skip(6)) served.ShouldContain(e => e.RequestId == response.RequestId);
        // The refusals are on the record too (under the unknown caller), the NUL replaced.
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select count(*) from ledger.mt_events where type = 'access_recorded' and data->>'RequestId' = any($1)", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = all.Take(6).Select(r => r.RequestId!).ToArray() });
        ((long)(await command.ExecuteScalarAsync())!).ShouldBe(6);
    }

    [Theory]
    [InlineData("""{"a":"plain"}""", """{"a":"plain"}""")]
    [InlineData("""{"a":"x\u0000y","b":"\u0000"}""", """{"a":"x\uFFFDy","b":"\uFFFD"}""")]
    [InlineData("""{"a":"\\u0000"}""", """{"a":"\\u0000"}""")]
    [InlineData("""{"a":"\\\u0000"}""", """{"a":"\\\uFFFD"}""")]
    public void Json_is_made_jsonb_safe_by_replacing_escaped_nuls_only(string json, string safe)
    {
        GovernanceLedger.DataPlane.AccessLedger.JsonbSafe(json).ShouldBe(safe);
        System.Text.Json.JsonDocument.Parse(GovernanceLedger.DataPlane.AccessLedger.JsonbSafe(json)).ShouldNotBeNull();
    }

    [Fact]
    public async Task When_something_else_appended_to_the_writers_stream_the_next_batch_rereads_its_version_and_the_request_is_still_served()
    {
        var appId = await ledger.DataApp("append-race");
        var token = await ledger.AppToken(appId);
        (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        var prefix = GovernanceLedger.DataPlane.AccessLedger.StreamPrefix(appId, ledger.Clock.GetUtcNow());
        var stream = (await RowsOf(prefix)).Select(r => r.Stream).Distinct().Single();
        var before = await StreamVersion(stream);

        // An append the writer did not make (an operator's repair, say) moves the stream on behind its back.
        var store = ledger.Host.Services.GetRequiredService<IDocumentStore>();
        await using (var session = store.LightweightSession())
        {
            session.Events.Append(stream, new TrafficCounted(appId, ledger.Clock.GetUtcNow(), 0, 0, 0, 0, ledger.Clock.GetUtcNow()));
            await session.SaveChangesAsync();
        }

        var after = await ledger.Get("/gw/crm/contacts?limit=1", token);
        after.Status.ShouldBe(200, after.Text);
        var rows = await RowsOf(stream);
        rows.Select(r => r.Version).ShouldBe(Enumerable.Range(1, rows.Count).Select(v => (long)v));
        rows.ShouldContain(r => r.Type == "access_recorded" && r.Data.Contains(after.RequestId!, StringComparison.Ordinal) && r.Version > before + 1);
        (await StreamVersion(stream)).ShouldBe(rows.Count);
    }
}

/// <summary>The group commit folds only the usage projection inline; any other inline projection of its events would silently miss them.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Access_append_projection_tests(LedgerFixture ledger)
{
    [Fact]
    public void No_inline_projection_but_usage_reads_the_events_the_data_plane_appends()
    {
        var options = (StoreOptions)ledger.Host.Services.GetRequiredService<IDocumentStore>().Options;
        Type[] appended = [typeof(AccessRecorded), typeof(AccessesRecorded), typeof(QueryExecuted), typeof(PiiRevealed), typeof(SandboxRequestServed), typeof(TrafficCounted), typeof(TrafficSummarized)];
        var inline = options.Projections.All.OfType<JasperFx.Events.Projections.ProjectionBase>()
            .Where(p => p.Lifecycle == JasperFx.Events.Projections.ProjectionLifecycle.Inline).ToList();
        inline.ShouldContain(p => p is UsageDayProjection);
        inline.OfType<UsageDayProjection>().Single().IncludedEventTypes.ShouldContain(typeof(AccessRecorded));
        inline.OfType<UsageDayProjection>().Single().IncludedEventTypes.ShouldContain(typeof(AccessesRecorded));
        inline.Where(p => p is not UsageDayProjection && p.IncludedEventTypes.Intersect(appended).Any())
            .Select(p => p.GetType().Name).ShouldBeEmpty();
    }

    [Fact]
    public void Every_projection_on_the_daemon_names_its_event_types_so_it_never_loads_the_whole_ledger()
    {
        // A projection that names none is handed every event: at data-plane volumes, each access event read and deserialized again for nothing.
        var options = (StoreOptions)ledger.Host.Services.GetRequiredService<IDocumentStore>().Options;
        var daemon = options.Projections.All.OfType<JasperFx.Events.Projections.ProjectionBase>()
            .Where(p => p.Lifecycle == JasperFx.Events.Projections.ProjectionLifecycle.Async).ToList();
        daemon.ShouldNotBeEmpty();
        daemon.Where(p => p.IncludedEventTypes.Count == 0).Select(p => p.GetType().Name).ShouldBeEmpty();
    }
}
