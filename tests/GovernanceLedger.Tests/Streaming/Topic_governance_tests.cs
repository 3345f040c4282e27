using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Streaming;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

[Collection(StreamingCollection.Name)]
public sealed class Topic_governance_tests(StreamingFixture ledger)
{
    [Fact]
    public async Task A_topic_request_outside_the_policy_is_refused_with_each_reason_and_recorded()
    {
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var refused = await ledger.Post("/topics/requests", new JsonObject
        {
            ["topic"] = "payments.raw.v1", ["partitions"] = 50, ["retention_days"] = 30, ["purpose"] = "raw card payments"
        }.ToJsonString(), owner);
        refused.Status.ShouldBe(403, refused.Text);
        refused.ContentType.ShouldBe("application/problem+json");
        var errors = refused.Json!["errors"]!.AsArray();
        errors.ShouldContain(e => e!["field"]!.GetValue<string>() == "topic" && e["message"]!.GetValue<string>().Contains("not in allowed_topics"));
        errors.ShouldContain(e => e!["field"]!.GetValue<string>() == "partitions" && e["message"]!.GetValue<string>().Contains("exceed max_partitions 10"));
        errors.ShouldContain(e => e!["field"]!.GetValue<string>() == "retention_days" && e["message"]!.GetValue<string>().Contains("exceed the allowed 7"));
        errors.ShouldAllBe(e => e!["rule"]!.GetValue<string>() == "topic-requests-follow-policy");

        await using var session = ledger.Host.Services.GetRequiredService<IDocumentStore>().QuerySession();
        var stream = await session.Events.FetchStreamAsync("topic:payments.raw.v1");
        stream.Select(e => e.Data.GetType()).ShouldBe([typeof(TopicRequested), typeof(TopicRequestDenied)]);
        ((TopicRequestDenied)stream[1].Data).Reasons.Count.ShouldBe(3);
        (await session.Events.FetchStreamAsync("topic:payments.raw.v1")).ShouldNotContain(e => e.Data is TopicProvisioned);
    }

    [Fact]
    public async Task An_allowed_topic_within_limits_is_provisioned_on_the_cluster()
    {
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var provisioned = await ledger.Post("/topics/requests", new JsonObject
        {
            ["topic"] = "crm.updates.v2", ["partitions"] = 4, ["retention_days"] = 7, ["purpose"] = "customer changes for the CRM team"
        }.ToJsonString(), owner);
        provisioned.Status.ShouldBe(201, provisioned.Text);
        provisioned.Str("policy_id").ShouldBe("topic-requests-follow-policy");
        using var admin = new Confluent.Kafka.AdminClientBuilder(new Confluent.Kafka.AdminClientConfig { BootstrapServers = ledger.Kafka.BootstrapServers }).Build();
        var metadata = admin.GetMetadata("crm.updates.v2", TimeSpan.FromSeconds(10));
        metadata.Topics.Single().Partitions.Count.ShouldBe(4);
    }

    [Fact]
    public async Task A_topic_request_with_missing_fields_names_each_field()
    {
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var invalid = await ledger.Post("/topics/requests", """{"topic":"Bad Topic!"}""", owner);
        invalid.Status.ShouldBe(400);
        invalid.Json!["errors"]!.AsArray().Select(e => e!["field"]!.GetValue<string>()).ShouldBe(["topic", "partitions", "retention_days", "purpose"]);
        var malformed = await ledger.Post("/topics/requests", """{"topic": "sales.events.v1", "partitions": "many"}""", owner);
        malformed.Status.ShouldBe(400);
        malformed.Json!["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe("type");
        malformed.Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("partitions");
    }

    [Fact]
    public async Task An_app_reads_a_curated_topic_only_with_a_grant_and_in_its_own_consumer_group()
    {
        await ledger.OrdersConnector();
        await ledger.Sql("insert into orders (order_id, customer_email, region, product, amount) values (9301, 'hal@example.com', 'EMEA', 'widget', 3);");
        var app = await ledger.DataApp("topic-reader");
        var token = await ledger.AppToken(app);

        var denied = await ledger.Get($"/topics/{StreamingScenarios.SalesTopic}/records?max=5&wait_ms=200", token);
        denied.Status.ShouldBe(403, denied.Text);
        denied.Text.ShouldContain("read:topic:sales.events.v1");

        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");
        var granted = await ledger.Post($"/topics/{StreamingScenarios.SalesTopic}/grants", new JsonObject { ["app_id"] = app, ["reason"] = "sales dashboard" }.ToJsonString(), reviewer);
        granted.Status.ShouldBe(201, granted.Text);
        granted.Str("consumer_group").ShouldBe($"app.{app}");

        // Reads continue where the app's group left off, so look through successive pages for the order.
        var pages = new List<ApiResponse>();
        await LedgerFixture.EventuallyAsync(async () =>
        {
            pages.Add(await ledger.Get($"/topics/{StreamingScenarios.SalesTopic}/records?max=1000&wait_ms=1000", token));
            return pages[^1].Status == 200 && pages.Any(p => p.Text.Contains("\"order_id\":9301"));
        }, TimeSpan.FromSeconds(30)).ContinueWith(t => t.IsFaulted ? throw new Exception(string.Join("\n", pages.Take(2))) : t);
        var read = pages.First(p => p.Text.Contains("\"order_id\":9301"));
        read.Str("consumer_group").ShouldBe($"app.{app}");
        read.Text.ShouldNotContain("hal@example.com");
        read.Text.ShouldContain("h***@example.com");

        var revoked = await ledger.Send(HttpMethod.Delete, $"/topics/{StreamingScenarios.SalesTopic}/grants/{app}?reason=dashboard+retired", null, reviewer);
        revoked.Status.ShouldBe(200, revoked.Text);
        (await ledger.Get($"/topics/{StreamingScenarios.SalesTopic}/records?wait_ms=100", token)).Status.ShouldBe(403);
        var lifecycle = await ledger.StreamOf(app);
        lifecycle.ShouldContain(e => e.Data is TopicAccessGranted);
        lifecycle.ShouldContain(e => e.Data is TopicAccessRevoked);
    }
}
