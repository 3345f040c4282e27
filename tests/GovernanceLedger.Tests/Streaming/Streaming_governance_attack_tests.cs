using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Streaming.Cdc;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>An administrator's or reviewer's streaming powers: bounded, owned, and never leaving side effects without a record.</summary>
[Collection(StreamingCollection.Name)]
public sealed class Streaming_governance_attack_tests(StreamingFixture ledger)
{
    private static JsonObject Declaration(string id, string source, string table) => new()
    {
        ["connector_id"] = id, ["source"] = source, ["dataset"] = "orders", ["target_topic"] = StreamingScenarios.SalesTopic,
        ["tables"] = new JsonArray(new JsonObject { ["table"] = table, ["key"] = Strings("order_id"), ["columns"] = Strings("order_id", "region") })
    };

    private async Task<List<string>> SourceObjects(string like)
    {
        await using var connection = new NpgsqlConnection(ledger.SalesConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select slot_name::text from pg_replication_slots where slot_name like $1 union all select pubname::text from pg_publication where pubname like $1", connection)
            { Parameters = { new() { Value = like } } };
        var names = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) names.Add(reader.GetString(0));
        return names;
    }

    [Fact]
    public async Task A_connector_reads_only_its_datasets_source_and_never_the_ledger()
    {
        await ledger.OrdersConnector();
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var ledgerSource = await ledger.Post("/cdc/connectors", Declaration("from-ledger", "Ledger", "orders").ToJsonString(), admin);
        ledgerSource.Status.ShouldBe(400, ledgerSource.Text);
        ledgerSource.Text.ShouldContain("not-the-ledger");
        (await SourceObjects("govledger_from_ledger%")).ShouldBeEmpty();
    }

    [Theory]
    [InlineData("public.no_such_table", "order_id", "order_id", "dataset-table")]
    [InlineData("sales_data", "order_id", "order_id", "dataset-table")]          // another table under the orders dataset
    [InlineData("orders", "order_id", "region", "key-in-columns")]
    public async Task A_declaration_outside_its_dataset_or_its_table_is_refused_and_leaves_nothing_behind(string table, string key, string column, string rule)
    {
        await ledger.OrdersConnector();
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var declaration = Declaration("half-done", "SalesDb", table);
        declaration["tables"]![0]!["key"] = Strings(key);
        declaration["tables"]![0]!["columns"] = Strings(column);
        var refused = await ledger.Post("/cdc/connectors", declaration.ToJsonString(), admin);
        refused.Status.ShouldBe(400, refused.Text);
        refused.Text.ShouldContain(rule);
        (await SourceObjects("govledger_half_done%")).ShouldBeEmpty();
        (await ledger.StreamOf(CdcConnectors.StreamOf("half-done"))).Select(e => e.Data).OfType<CdcConnectorDeclared>().ShouldBeEmpty();
    }

    [Fact]
    public async Task The_reconciler_removes_orphaned_slots_and_publications_after_a_grace_period_and_records_it()
    {
        await ledger.OrdersConnector();
        const string orphan = "govledger_orphan_probe_0000";
        await ledger.Sql($"select pg_create_logical_replication_slot('{orphan}', 'pgoutput'); create publication {orphan} for table orders;");
        var reconciler = ledger.Host.Services.GetRequiredService<CdcReconciler>();

        (await reconciler.ReconcileAsync(CancellationToken.None)).ShouldBeEmpty();   // first look: only suspected
        (await SourceObjects(orphan)).Count.ShouldBe(2);
        ledger.Clock.Advance(CdcReconciler.Grace + TimeSpan.FromSeconds(1));
        // The host's own timer may take this look first: either way both are removed once and recorded.
        await reconciler.ReconcileAsync(CancellationToken.None);

        (await SourceObjects(orphan)).ShouldBeEmpty();
        var records = (await ledger.StreamOf(CdcReconciler.StreamId)).Select(e => e.Data).OfType<CdcOrphanRemoved>().Where(r => r.Name == orphan).ToList();
        records.Select(r => r.Kind).ShouldBe(["publication", "slot"], ignoreOrder: true);
        // The declared connector's own slot is untouched.
        (await SourceObjects("govledger_salesdb_orders%")).ShouldNotBeEmpty();
    }

    [Fact]
    public async Task Topics_are_owned_bounded_and_never_re_provisioned_by_someone_else()
    {
        await ledger.OrdersConnector();
        var owner = await ledger.PersonToken("someone.else@example.com", "app-owner");
        var again = await ledger.Post("/topics/requests", new JsonObject
        {
            ["topic"] = StreamingScenarios.SalesTopic, ["partitions"] = 1, ["retention_days"] = 30, ["purpose"] = "mine now"
        }.ToJsonString(), owner);
        again.Status.ShouldBe(409, again.Text);
        again.Text.ShouldContain("topic-exists");

        var onBehalf = await ledger.Post("/topics/requests", new JsonObject
        {
            ["topic"] = "crm.updates.v2", ["partitions"] = 1, ["retention_days"] = 3, ["purpose"] = "x", ["owner"] = "ceo@example.com"
        }.ToJsonString(), owner);
        onBehalf.Status.ShouldBe(403, onBehalf.Text);
        onBehalf.Text.ShouldContain("owner-is-caller");

        foreach (var retention in new[] { 0, -30 })
        {
            var unbounded = await ledger.Post("/topics/requests", new JsonObject
            {
                ["topic"] = "bounds.probe.v1", ["partitions"] = 1, ["retention_days"] = retention, ["purpose"] = "x"
            }.ToJsonString(), owner);
            unbounded.Status.ShouldBe(403, unbounded.Text);
            unbounded.Text.ShouldContain("retention_days must be at least 1");
        }
        var topics = await ledger.Get("/topics", owner);
        topics.Json!.AsArray().Count(t => t!["topic"]!.GetValue<string>() == StreamingScenarios.SalesTopic).ShouldBe(1);
    }

    [Fact]
    public async Task An_existing_topic_changes_only_through_a_change_request_by_its_owner_or_an_admin_within_policy()
    {
        await ledger.OrdersConnector();
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var stranger = await ledger.PersonToken("someone.else@example.com", "app-owner");
        var topic = StreamingScenarios.SalesTopic;
        async Task<ApiResponse> Change(object body, string token) =>
            await ledger.Post($"/topics/{topic}/changes", System.Text.Json.JsonSerializer.Serialize(body), token);

        var notOwner = await Change(new { retention_days = 3, reason = "mine now" }, stranger);
        notOwner.Status.ShouldBe(403, notOwner.Text);
        notOwner.Text.ShouldContain("topic-owner");
        (await ledger.StreamOf(GovernanceLedger.Streaming.Topics.TopicRequests.StreamOf(topic))).Select(e => e.Data)
            .OfType<GovernanceActionRefused>().ShouldContain(r => r.Action == "change-topic" && r.Rule == "topic-owner" && r.Actor.Contains("someone.else"));

        var noReason = await Change(new { retention_days = 3 }, admin);
        noReason.Status.ShouldBe(400, noReason.Text);
        noReason.Text.ShouldContain("\"field\":\"reason\"");
        var shrink = await Change(new { partitions = 1, reason = "fewer" }, admin);
        shrink.Status.ShouldBe(400, shrink.Text);
        shrink.Text.ShouldContain("partitions-only-grow");
        var unbounded = await Change(new { retention_days = 3650, reason = "keep everything" }, admin);
        unbounded.Status.ShouldBe(403, unbounded.Text);
        unbounded.Text.ShouldContain("retention_days");
        var grow = await Change(new { partitions = 6, reason = "more consumers" }, admin);
        grow.Status.ShouldBe(409, grow.Text);
        grow.Text.ShouldContain("cluster-cannot-add-partitions");
        (await ledger.Post("/topics/no.such.topic/changes", """{"retention_days":3,"reason":"x"}""", admin)).Status.ShouldBe(404);

        var changed = await Change(new { retention_days = 5, reason = "orders older than five days are in the warehouse" }, admin);
        changed.Status.ShouldBe(200, changed.Text);
        changed.Json!["retention_days"]!.GetValue<int>().ShouldBe(5);
        var listed = (await ledger.Get("/topics", stranger)).Json!.AsArray().Single(t => t!["topic"]!.GetValue<string>() == topic)!;
        listed["retention_days"]!.GetValue<int>().ShouldBe(5);
        listed["partitions"]!.GetValue<int>().ShouldBe(3);
        var stream = (await ledger.StreamOf(GovernanceLedger.Streaming.Topics.TopicRequests.StreamOf(topic))).Select(e => e.Data).ToList();
        stream.OfType<TopicChangeRequested>().ShouldContain(r => r.RetentionDays == 5 && r.Reason.Contains("warehouse"));
        stream.OfType<TopicChanged>().ShouldContain(c => c.RetentionDays == 5);
        (await Change(new { retention_days = 7, reason = "back to the policy's week" }, admin)).Status.ShouldBe(200);
    }

    [Fact]
    public async Task A_topic_created_but_never_recorded_as_provisioned_is_found_checked_and_recorded()
    {
        var topic = StreamingFixture.OrphanProbeTopic;
        // The request committed and the topic was created, then the process died before recording it.
        var requestedAt = ledger.Clock.GetUtcNow();
        await using (var session = ledger.Host.Services.GetRequiredService<Marten.IDocumentStore>().LightweightSession())
        {
            session.Events.Append(GovernanceLedger.Streaming.Topics.TopicRequests.StreamOf(topic),
                new TopicRequested(topic, 2, 5, Owner, "probe", $"person:{Owner}", requestedAt));
            await session.SaveChangesAsync();
        }
        ledger.Kafka.CreateTopic(topic, 2);
        var reconciler = ledger.Host.Services.GetRequiredService<GovernanceLedger.Streaming.Topics.TopicReconciler>();
        (await reconciler.ReconcileAsync(CancellationToken.None)).ShouldBeEmpty();   // within the grace it may still be in flight

        ledger.Clock.Advance(GovernanceLedger.Streaming.Topics.TopicReconciler.Grace + TimeSpan.FromSeconds(1));
        // The host's own timer may take this look first: either way it is recorded once.
        await reconciler.ReconcileAsync(CancellationToken.None);
        var stream = (await ledger.StreamOf(GovernanceLedger.Streaming.Topics.TopicRequests.StreamOf(topic))).Select(e => e.Data).ToList();
        stream.OfType<TopicProvisioned>().ShouldHaveSingleItem().Actor.ShouldBe("ledger-reconciler");
        var listed = (await ledger.Get("/topics", await ledger.PersonToken(Owner, "app-owner"))).Json!.AsArray()
            .Single(t => t!["topic"]!.GetValue<string>() == topic)!;
        listed["partitions"]!.GetValue<int>().ShouldBe(2);
        listed["owner"]!.GetValue<string>().ShouldBe(Owner);
        (await reconciler.ReconcileAsync(CancellationToken.None)).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_topic_grant_moves_the_apps_version_so_the_next_command_with_that_version_is_accepted()
    {
        await ledger.OrdersConnector();
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var appId = await ledger.ActiveApp("grantversion");
        var reviewer = await ledger.PersonToken(SecondReviewer, "security-reviewer");
        (await ledger.Post($"/topics/{StreamingScenarios.SalesTopic}/grants", new JsonObject { ["app_id"] = appId, ["reason"] = "dashboards" }.ToJsonString(), reviewer))
            .Status.ShouldBe(201);

        var app = await ledger.Get($"/apps/{appId}", owner);
        app.Json!["topics"]!.AsArray().Select(t => t!.GetValue<string>()).ShouldBe([StreamingScenarios.SalesTopic]);
        var version = app.Json!["version"]!.GetValue<long>();
        var paused = await ledger.Post($"/apps/{appId}/pause", new JsonObject { ["reason"] = "holiday", ["expected_version"] = version }.ToJsonString(), owner);
        paused.Status.ShouldBe(200, paused.Text);

        // Every app's catalog entry is at its stream's version, whatever was appended to it.
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var lagging = new NpgsqlCommand("""
            select count(*) from ledger.mt_doc_appcatalogentry c join ledger.mt_streams s on s.id = c.id
            where (c.data->>'version')::bigint <> s.version
            """, connection);
        ((long)(await lagging.ExecuteScalarAsync())!).ShouldBe(0);
    }

    [Theory]
    [InlineData("max=abc", "max")]
    [InlineData("wait_ms=99999999999", "wait_ms")]
    public async Task A_streaming_query_value_that_does_not_parse_is_a_problem_naming_it(string query, string field)
    {
        await ledger.OrdersConnector();
        var appId = await ledger.DataApp("badquery");
        var refused = await ledger.Get($"/topics/{StreamingScenarios.SalesTopic}/records?{query}", await ledger.AppToken(appId));
        refused.Status.ShouldBe(400, refused.Text);
        refused.ContentType.ShouldBe("application/problem+json");
        (refused.Node("errors.0.field")?.GetValue<string>()).ShouldBe(field, refused.Text);
        refused.Text.ShouldNotContain("int?");
    }

    [Fact]
    public async Task A_reviewer_cannot_grant_topic_access_to_their_own_app_and_the_refusal_is_recorded()
    {
        await ledger.OrdersConnector();
        var both = await ledger.PersonToken(Reviewer, "security-reviewer", "app-owner");
        var appId = NewAppId("selfgrant");
        (await ledger.Register(ExampleManifest(appId).With("owner", Reviewer), both)).Str("status").ShouldBe("active");

        var refused = await ledger.Post($"/topics/{StreamingScenarios.SalesTopic}/grants", new JsonObject { ["app_id"] = appId, ["reason"] = "need it" }.ToJsonString(), both);
        refused.Status.ShouldBe(403, refused.Text);
        refused.Text.ShouldContain("no-self-grant");
        var refusals = (await ledger.StreamOf(GovernanceLedger.Apps.GovernanceStreams.For(appId, ledger.Clock.GetUtcNow()))).Select(e => e.Data).OfType<GovernanceActionRefused>();
        refusals.ShouldContain(r => r.Action == "grant-topic" && r.Rule == "no-self-grant");

        var other = await ledger.PersonToken(SecondReviewer, "security-reviewer");
        (await ledger.Post($"/topics/{StreamingScenarios.SalesTopic}/grants", new JsonObject { ["app_id"] = appId, ["reason"] = "reviewed" }.ToJsonString(), other)).Status.ShouldBe(201);
    }

    [Fact]
    public async Task A_grant_without_an_app_for_an_app_nobody_registered_or_twice_revoked_is_refused_and_nothing_is_granted()
    {
        await ledger.OrdersConnector();
        var reviewer = await ledger.PersonToken(SecondReviewer, "security-reviewer");
        var grants = $"/topics/{StreamingScenarios.SalesTopic}/grants";

        var unnamed = await ledger.Post(grants, """{"reason":"dashboards"}""", reviewer);
        unnamed.Status.ShouldBe(400, unnamed.Text);
        unnamed.Str("errors.0.field").ShouldBe("app_id");
        var nobody = await ledger.Post(grants, new JsonObject { ["app_id"] = NewAppId("ghost"), ["reason"] = "dashboards" }.ToJsonString(), reviewer);
        nobody.Status.ShouldBe(404, nobody.Text);

        var appId = await ledger.ActiveApp("revoketwice");
        var version = (await ledger.StreamOf(appId)).Count;
        (await ledger.Post(grants, new JsonObject { ["app_id"] = appId, ["reason"] = "dashboards" }.ToJsonString(), reviewer)).Status.ShouldBe(201);
        (await ledger.Send(HttpMethod.Delete, $"{grants}/{appId}", null, reviewer)).Str("errors.0.field").ShouldBe("reason");
        (await ledger.Send(HttpMethod.Delete, $"{grants}/{appId}?reason=done", null, reviewer)).Status.ShouldBe(200);
        (await ledger.Send(HttpMethod.Delete, $"{grants}/{appId}?reason=done+again", null, reviewer)).Status.ShouldBe(404);
        // The grant and its revocation are in the app's own stream, each at the next version.
        (await ledger.StreamOf(appId)).Skip(version).Select(e => e.Data.GetType().Name).ShouldBe(["TopicAccessGranted", "TopicAccessRevoked"]);
    }
}
