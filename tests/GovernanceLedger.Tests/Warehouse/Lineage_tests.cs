using System.Text.Json.Nodes;
using GovernanceLedger.Tests.Streaming;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Warehouse;

/// <summary>Lineage from the ledger: served at GET /lineage and posted to an OpenLineage endpoint, valid against the specification.</summary>
[Collection(StreamingCollection.Name)]
public sealed class Lineage_tests(StreamingFixture ledger)
{
    [Fact]
    public async Task Lineage_of_customers_names_the_sanitized_view_the_CDC_topic_and_the_apps_reading_it_and_OpenLineage_hears_the_same()
    {
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        (await ledger.Post("/topics/requests", """{"topic":"crm.updates.v2","partitions":2,"retention_days":7,"purpose":"customer changes"}""", admin)).Status
            .ShouldBeOneOf(201, 409);
        var declared = await ledger.Post("/cdc/connectors", """
            {"connector_id":"lineage-customers","source":"SalesDb","dataset":"customers","target_topic":"crm.updates.v2",
             "tables":[{"table":"customers","key":["customer_id"],"columns":["customer_id","email","region","segment"]}]}
            """, admin);
        declared.Status.ShouldBe(201, declared.Text);
        var exported = await ledger.Post("/warehouse/exports/customers-sanitized/runs", null, admin);
        exported.Status.ShouldBe(201, exported.Text);
        var reader = await ledger.DataApp("lineage");
        var analyst = await ledger.AnalyticsApp("lineage-wh");

        var person = await ledger.PersonToken(Owner, "app-owner");
        var customers = await ledger.Get("/lineage?dataset=customers", person);
        customers.Status.ShouldBe(200, customers.Text);
        customers.Node("dataset.fields")!.AsArray().Single(f => f!["name"]!.GetValue<string>() == "email")!["pii"]!.GetValue<bool>().ShouldBeTrue();
        var export = customers.Node("downstream.exports.0")!;
        export["dataset"]!.GetValue<string>().ShouldBe("customers_sanitized");
        export["columns"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "email_hash")!.ShouldSatisfyAllConditions(
            c => c["derived_from"]![0]!.GetValue<string>().ShouldBe("email"), c => c["transform"]!.GetValue<string>().ShouldBe("sha256"));
        var topic = customers.Node("downstream.topics")!.AsArray().Single(t => t!["connector"]!.GetValue<string>() == "lineage-customers")!;
        topic["topic"]!.GetValue<string>().ShouldBe("crm.updates.v2");
        topic["masked"]!.AsArray().Select(m => m!.GetValue<string>()).ShouldContain("email");
        var app = customers.Node("downstream.apps")!.AsArray().Single(a => a!["app_id"]!.GetValue<string>() == reader)!;
        app["pii_fields"]!.AsArray().Select(f => f!.GetValue<string>()).Order().ShouldBe(["email", "phone"]);

        // Someone who may not see those apps gets how many there are, not who they are.
        var stranger = await ledger.Get("/lineage?dataset=customers", await ledger.PersonToken("stranger@example.com"));
        stranger.Node("downstream.apps")!.AsArray().ShouldBeEmpty();
        stranger.Node("downstream.apps_not_shown")!.GetValue<int>().ShouldBeGreaterThanOrEqualTo(1);
        stranger.Text.ShouldNotContain(reader);

        var sanitized = await ledger.Get("/lineage?dataset=customers_sanitized", person);
        sanitized.Node("upstream.0.export")!.GetValue<string>().ShouldBe("customers-sanitized");
        sanitized.Node("upstream.0.from_dataset")!.GetValue<string>().ShouldBe("customers");
        sanitized.Node("downstream.apps")!.AsArray().Select(a => a!["app_id"]!.GetValue<string>()).ShouldContain(analyst);
        (await ledger.Get("/lineage?dataset=nope", person)).Status.ShouldBe(404);
        (await ledger.Get("/lineage", person)).Status.ShouldBe(400);
        (await ledger.Get("/lineage?dataset=customers", null)).Status.ShouldBe(401);

        // The same graph reaches the OpenLineage endpoint: the export run, the connector and the apps, each a valid run event.
        JsonObject? Find(string job) => ledger.Lineage.Events.LastOrDefault(e => e["job"]!["name"]!.GetValue<string>() == job);
        await ledger.Eventually(() => Task.FromResult(
            Find("export.customers-sanitized") is not null && Find("cdc.lineage-customers") is not null && Find($"app.{reader}") is not null),
            TimeSpan.FromSeconds(30));
        var run = Find("export.customers-sanitized")!;
        run["eventType"]!.GetValue<string>().ShouldBe("COMPLETE");
        run["inputs"]!.AsArray().Select(i => i!["name"]!.GetValue<string>().Split('.')[^1]).Order().ShouldBe(["customers", "sales_data"]);
        var output = run["outputs"]![0]!;
        output["name"]!.GetValue<string>().ShouldBe("customers_sanitized");
        output["facets"]!["columnLineage"]!["fields"]!["email_hash"]!["inputFields"]![0]!["transformations"]![0]!["masking"]!.GetValue<bool>().ShouldBeTrue();
        var customersInput = run["inputs"]!.AsArray().Single(i => i!["name"]!.GetValue<string>().EndsWith(".customers"))!;
        customersInput["facets"]!["tags"]!["tags"]!.AsArray().Select(t => t!["field"]!.GetValue<string>()).Order().ShouldBe(["email", "phone"]);
        var cdc = Find("cdc.lineage-customers")!;
        cdc["outputs"]![0]!["name"]!.GetValue<string>().ShouldBe("crm.updates.v2");
        cdc["outputs"]![0]!["namespace"]!.GetValue<string>().ShouldStartWith("kafka://");
        Find($"app.{reader}")!["inputs"]![0]!["facets"]!["tags"]!["tags"]!.AsArray().Select(t => t!["field"]!.GetValue<string>()).Order()
            .ShouldBe(["email", "phone"]);
        foreach (var posted in ledger.Lineage.Events)
            OpenLineageSchema.Errors(posted).ShouldBeEmpty(posted.ToJsonString());

        // The validator does fail: an event without its producer, and a facet without its schema URL.
        var broken = run.DeepClone().AsObject();
        broken.Remove("producer");
        OpenLineageSchema.Errors(broken).ShouldNotBeEmpty();
        var badFacet = run.DeepClone().AsObject();
        badFacet["outputs"]![0]!["facets"]!["columnLineage"]!.AsObject().Remove("_schemaURL");
        OpenLineageSchema.Errors(badFacet).ShouldNotBeEmpty();
        var badLineage = run.DeepClone().AsObject();
        badLineage["outputs"]![0]!["facets"]!["columnLineage"]!["fields"]!["email_hash"]!.AsObject().Remove("inputFields");
        OpenLineageSchema.Errors(badLineage).ShouldNotBeEmpty();

        // A retired connector leaves the lineage, and its end is posted too.
        (await ledger.Send(HttpMethod.Delete, "/cdc/connectors/lineage-customers?reason=lineage+test+done", null, admin)).Status.ShouldBe(200);
        (await ledger.Get("/lineage?dataset=customers", person)).Node("downstream.topics")!.AsArray()
            .ShouldNotContain(t => t!["connector"]!.GetValue<string>() == "lineage-customers");
        await ledger.Eventually(() => Task.FromResult(Find("cdc.lineage-customers")!["eventType"]!.GetValue<string>() == "COMPLETE"), TimeSpan.FromSeconds(30));
    }
}
