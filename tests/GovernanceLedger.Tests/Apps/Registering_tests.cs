using System.Text.Json.Nodes;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

[Collection(LedgerCollection.Name)]
public sealed class Registering_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task The_products_example_manifest_is_accepted_as_written_and_auto_approved()
    {
        var manifest = """
            {"app_id": "internal-sales-quickview", "owner": "sales_ops@example.com", "scopes":
            ["read:contacts","read:sales_metrics"], "connectors": ["postgres:salesdb","bigquery:analytics"],
            "data_retention_days": 30}
            """;
        var token = await ledger.PersonToken(Owner, "app-owner");
        var created = await ledger.Post("/apps", manifest, token);
        created.Status.ShouldBe(201, created.Text);
        created.Str("app_id").ShouldBe("internal-sales-quickview");
        created.Str("status").ShouldBe("active");
        created.Node("findings")!.AsArray().Count.ShouldBe(PolicyFiles.Registration);

        var catalog = await ledger.Get("/apps/internal-sales-quickview", token);
        catalog.Status.ShouldBe(200);
        catalog.Str("status").ShouldBe("active");
        catalog.Str("owner").ShouldBe("sales_ops@example.com");
        catalog.Node("expires_in_days")!.GetValue<int>().ShouldBe(90);
        catalog.Node("connectors")!.AsArray().Select(c => c!.GetValue<string>()).ShouldBe(["postgres:salesdb", "bigquery:analytics"]);

        var events = await ledger.Get("/apps/internal-sales-quickview/events", token);
        var types = events.Json!.AsArray().Select(e => e!["type"]!.GetValue<string>()).ToList();
        types.First().ShouldBe("app_registered");
        types.Count(t => t == "policy_checked").ShouldBe(PolicyFiles.Registration);
        types.ShouldContain("app_approved");
        types.ShouldContain("access_granted");
    }

    [Fact]
    public async Task Registering_from_a_template_applies_its_defaults_overrides_and_policy_sets()
    {
        var appId = NewAppId("survey");
        var token = await ledger.PersonToken(Owner, "app-owner");
        var response = await ledger.Post("/apps/from-template/survey-form",
            new JsonObject { ["app_id"] = appId, ["owner"] = Owner, ["expires_in_days"] = 30, ["policy_sets"] = Strings() }.ToJsonString(), token);
        response.Status.ShouldBe(201, response.Text);
        response.Str("status").ShouldBe("active");

        var app = await ledger.Get($"/apps/{appId}", token);
        app.Str("template").ShouldBe("survey-form");
        app.Node("expires_in_days")!.GetValue<int>().ShouldBe(30);
        app.Node("scopes")!.AsArray().Select(s => s!.GetValue<string>()).ShouldContain("write:survey_responses");
        // An override cannot drop the template's policy set.
        app.Node("policy_sets")!.AsArray().Select(s => s!.GetValue<string>()).ShouldContain("no-pii");
    }

    [Fact]
    public async Task An_unknown_template_is_404_and_templates_are_listed()
    {
        var token = await ledger.PersonToken(Owner, "app-owner");
        var missing = await ledger.Post("/apps/from-template/nope", new JsonObject { ["app_id"] = "x-app", ["owner"] = Owner }.ToJsonString(), token);
        missing.Status.ShouldBe(404);
        var templates = await ledger.Get("/templates", token);
        templates.Json!.AsArray().Select(t => t!["id"]!.GetValue<string>())
            .ShouldBe(["sales-lookup", "survey-form", "finance-report", "analytics-dashboard"], ignoreOrder: true);
    }

    public static TheoryData<string, string, string> Malformed => new()
    {
        { """{"owner":"a@example.com","scopes":["read:contacts"]}""", "app_id", "required" },
        { """{"app_id":"ok-app","scopes":["read:contacts"]}""", "owner", "required" },
        { """{"app_id":42,"owner":"a@example.com","scopes":["read:contacts"]}""", "app_id", "type" },
        { """{"app_id":"ok-app","owner":"a@example.com","scopes":"read:contacts"}""", "scopes", "type" },
        { """{"app_id":"Robert'); DROP TABLE apps;--","owner":"a@example.com","scopes":["read:contacts"]}""", "app_id", "pattern" },
        { """{"app_id":"bad\u0000id","owner":"a@example.com","scopes":["read:contacts"]}""", "app_id", "nul" },
        { """{"app_id":"ok-app","owner":"not-an-email","scopes":["read:contacts"]}""", "owner", "format" },
        { """{"app_id":"ok-app","owner":"a@example.com","scopes":["delete:everything"]}""", "scopes[0]", "pattern" },
        { """{"app_id":"ok-app","owner":"a@example.com","scopes":["read:contacts"],"data_retention_days":-5}""", "data_retention_days", "minimum" },
        { """{"app_id":"ok-app","owner":"a@example.com","scopes":["read:contacts"],"generated_by":"robot"}""", "generated_by", "enum" },
        { """{"app_id":"ok-app","owner":"a@example.com","scopes":["read:contacts"],"is_admin":true}""", "is_admin", "additionalProperties" },
        { "{\"app_id\":\"ok-app\",\"owner\":\"a@example.com\",\"scopes\":[\"read:contacts\"],\"description\":\"" + new string('x', 5000) + "\"}", "description", "maxLength" },
        { """{"app_id":"ok-app","owner":"a@example.com","scopes":["read:contacts"],"description":"bell\u0007"}""", "description", "pattern" },
        { """{"app_id":"ok-app","owner":"a@example.com","scopes":["read:contacts"],"expires_in_days":1000}""", "expires_in_days", "maximum" },
        { """[1,2,3]""", "", "type" },
        { """{"app_id":"ok-app",""", "", "json" },
        { """{"app_id":"ok-app","owner":"a@example.com","scopes":["read:contacts","read:contacts"]}""", "scopes", "uniqueItems" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task A_malformed_manifest_gets_400_naming_the_field_and_rule_and_appends_nothing(string body, string field, string rule)
    {
        var token = await ledger.PersonToken("a@example.com", "app-owner");
        var before = await ledger.EventCount();

        var response = await ledger.Post("/apps", body, token);

        response.Status.ShouldBe(400, response.Text);
        response.ContentType.ShouldBe("application/problem+json");
        var errors = response.Node("errors")!.AsArray();
        errors.ShouldContain(e => e!["field"]!.GetValue<string>() == field && e["rule"]!.GetValue<string>() == rule, response.Text);
        (await ledger.EventCount()).ShouldBe(before);
    }

    [Fact]
    public async Task Every_violation_is_listed_not_only_the_first()
    {
        var token = await ledger.PersonToken("a@example.com", "app-owner");
        var response = await ledger.Post("/apps", """{"app_id":"X","owner":7,"scopes":[],"extra":1}""", token);
        response.Status.ShouldBe(400);
        var fields = response.Node("errors")!.AsArray().Select(e => e!["field"]!.GetValue<string>()).ToList();
        fields.ShouldContain("app_id");
        fields.ShouldContain("owner");
        fields.ShouldContain("scopes");
        fields.ShouldContain("extra");
    }

    [Fact]
    public async Task A_taken_app_id_is_409_and_the_first_app_is_untouched()
    {
        var appId = await ledger.ActiveApp("taken");
        var before = (await ledger.StreamOf(appId)).Count;
        var again = await ledger.Register(ExampleManifest(appId));
        again.Status.ShouldBe(409);
        again.Node("errors.0.rule")!.GetValue<string>().ShouldBe("app-id-taken");
        (await ledger.StreamOf(appId)).Count.ShouldBe(before);
    }

    [Fact]
    public async Task Registering_for_someone_else_is_forbidden_unless_platform_admin()
    {
        var stranger = await ledger.PersonToken("mallory@example.com", "app-owner");
        var refused = await ledger.Register(ExampleManifest(NewAppId("other")), stranger);
        refused.Status.ShouldBe(403);
        refused.Node("errors.0.rule")!.GetValue<string>().ShouldBe("owner-must-be-caller");

        var admin = await ledger.PersonToken(Admin, "platform-admin");
        (await ledger.Register(ExampleManifest(NewAppId("byadmin")), admin)).Status.ShouldBe(201);
    }

    [Fact]
    public async Task An_agent_token_cannot_pass_its_manifest_off_as_human()
    {
        var agent = await ledger.PersonToken(new JsonObject
        {
            ["sub"] = "copilot-7", ["email"] = Owner, ["roles"] = Strings("app-owner"), ["actor_type"] = "agent"
        });
        var refused = await ledger.Register(ExampleManifest(NewAppId("agent")), agent);
        refused.Status.ShouldBe(400);
        refused.Node("errors.0.field")!.GetValue<string>().ShouldBe("generated_by");

        var honest = await ledger.Register(ExampleManifest(NewAppId("agent")).With("generated_by", "agent"), agent);
        honest.Status.ShouldBe(201);
        honest.Str("status").ShouldBe("pending_review");
    }
}
