using System.Text;
using GovernanceLedger.Contracts.Access;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>Bodies no reader should disagree about: each is a 4xx naming the field, and on the data plane a recorded denial.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Malformed_input_attack_tests(LedgerFixture ledger)
{
    public static TheoryData<string, byte[], string, int, string, string> Hostile => new()
    {
        { "number overflow", Utf8("""{"fields":["order_id"],"filter":[{"field":"amount","op":"gt","value":1e400}]}"""), "application/json", 400, "filter[0].value", "number-range" },
        { "30-digit integer", Utf8("""{"fields":["order_id"],"filter":[{"field":"order_id","op":"eq","value":123456789012345678901234567890}]}"""), "application/json", 400, "filter[0].value", "number-range" },
        { "lone surrogate", Utf8("""{"fields":["order_id"],"filter":[{"field":"region","op":"eq","value":"\ud800"}]}"""), "application/json", 400, "filter[0].value", "utf-16" },
        { "duplicate key", Utf8("""{"fields":["order_id"],"limit":1,"limit":2}"""), "application/json", 400, "limit", "duplicate-key" },
        { "invalid utf-8", [.. Utf8("""{"fields":["order_id"],"filter":[{"field":"region","op":"eq","value":" """), 0xC3, 0x28, .. Utf8("\"}]}")], "application/json", 400, "", "utf-8" },
        { "non-string op", Utf8("""{"fields":["order_id"],"filter":[{"field":"region","op":7,"value":"EMEA"}]}"""), "application/json", 400, "filter[0].op", "type" },
        { "text/plain body", Utf8("""{"fields":["order_id"]}"""), "text/plain", 415, "content-type", "media-type" },
        { "oversized query", Utf8("""{"fields":["order_id"],"filter":[{"field":"region","op":"eq","value":" """ + new string('x', 70_000) + "\"}]}"), "application/json", 413, "", "max-bytes" },
        { "not an object", Utf8("[1,2]"), "application/json", 400, "", "type" },
        { "NUL in a value", Utf8("""{"fields":["order_id"],"filter":[{"field":"region","op":"prefix","value":"\u0000"}]}"""), "application/json", 400, "filter[0].value", "nul" },
        { "beyond 28 digits", Utf8("""{"fields":["order_id"],"filter":[{"field":"amount","op":"gt","value":1.0000000000000000000000000000001}]}"""), "application/json", 400, "filter[0].value", "number-range" },
        { "too deep", Utf8(string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 40)), "application/json", 400, "", "max-depth" },
        // Cut short inside an open object: not valid JSON, and nothing to do with depth.
        { "truncated", Utf8("""{"fields":["order_id"],"filter":[{"field":"region","op":"eq","value":"EMEA"}"""), "application/json", 400, "", "json" },
    };

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task A_hostile_query_body_is_refused_naming_the_field_and_recorded_as_a_denial(
        string what, byte[] body, string contentType, int status, string field, string rule)
    {
        var appId = await ledger.DataApp("hostile");
        var token = await ledger.AppToken(appId);

        var refused = await ledger.SendRaw(HttpMethod.Post, "/data/sales_data/query", body, contentType, token);

        refused.Status.ShouldBe(status, $"{what}: {refused.Text}");
        refused.ContentType.ShouldBe("application/problem+json");
        refused.Node("errors")!.AsArray().ShouldContain(e => e!["field"]!.GetValue<string>() == field && e["rule"]!.GetValue<string>() == rule, refused.Text);
        refused.Text.ShouldNotContain("manifest", Case.Insensitive);
        var denial = (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().Single(e => e.RequestId == refused.RequestId);
        denial.Decision.ShouldBe(AccessDecisions.Deny);
        denial.Status.ShouldBe(status);
    }

    [Fact]
    public async Task Duplicate_keys_in_a_gateway_body_are_refused_before_the_schema_or_the_upstream_sees_them()
    {
        var appId = await ledger.DataApp("dupbody", null, "write:contacts");
        var token = await ledger.AppToken(appId);
        var refused = await ledger.SendRaw(HttpMethod.Post, "/gw/crm/contacts",
            Utf8("""{"name":"Eve","email":"eve@example.com","email":"not an address"}"""), "application/json", token);
        refused.Status.ShouldBe(400, refused.Text);
        refused.Text.ShouldContain("duplicate-key");
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().Single(e => e.RequestId == refused.RequestId).Decision.ShouldBe(AccessDecisions.Deny);

        var plain = await ledger.SendRaw(HttpMethod.Post, "/gw/crm/contacts", Utf8("name=Eve"), "application/x-www-form-urlencoded", token);
        plain.Status.ShouldBe(415, plain.Text);
    }

    [Theory]
    [InlineData("""{"decision":"approve","reason":"ok","decision":"reject"}""", "application/json", 400, "duplicate-key")]
    [InlineData("""{"decision":"approve","reason":"ok","REASON":"other"}""", "application/json", 400, "duplicate-key")]
    [InlineData("""{"decision":"approve","reason":"\udc00"}""", "application/json", 400, "utf-16")]
    [InlineData("""{"decision":"approve","reason":"ok"}""", "text/plain", 415, "media-type")]
    [InlineData("""{"decision":"approve","reason":"ok","expected_version":1e400}""", "application/json", 400, "number-range")]
    public async Task Control_plane_bodies_follow_the_same_rules(string body, string contentType, int status, string rule)
    {
        var appId = await NewPendingApp();
        var reviewer = await ledger.PersonToken(Scenarios.Reviewer, "security-reviewer");
        var before = await ledger.EventCount();
        var refused = await ledger.SendRaw(HttpMethod.Post, $"/apps/{appId}/approvals", Utf8(body), contentType, reviewer);
        refused.Status.ShouldBe(status, refused.Text);
        refused.Text.ShouldContain(rule);
        (await ledger.EventCount()).ShouldBe(before);
    }

    [Theory]
    [InlineData("/apps/{0}/tokens", """{"expires_in":1e10}""", "expires_in")]
    [InlineData("/apps/{0}/tokens", """{"expires_in":"3600"}""", "expires_in")]
    [InlineData("/apps/{0}/pause", """{"reason":"x","expected_version":-99999999999999999999}""", "expected_version")]
    public async Task A_body_that_does_not_fit_the_commands_types_names_the_field_and_no_type(string path, string body, string field)
    {
        var appId = await ledger.ActiveApp("types");
        var refused = await ledger.Post(string.Format(path, appId), body, await ledger.PersonToken(Scenarios.Owner, "app-owner"));
        refused.Status.ShouldBe(400, refused.Text);
        refused.Node("errors.0.field")!.GetValue<string>().ShouldBe(field, refused.Text);
        refused.Text.ShouldNotContain("GovernanceLedger.");
    }

    [Theory]
    [InlineData("/audit/verify?from=abc", "from")]
    [InlineData("/audit/timeline?limit=ten", "limit")]
    [InlineData("/audit/timeline?from=yesterday", "from")]
    [InlineData("/audit/access?cursor=99999999999999999999999", "cursor")]
    [InlineData("/audit/consistency?from=1&to=x", "to")]
    public async Task A_query_value_that_does_not_parse_is_refused_naming_the_parameter_never_run_as_if_absent(string path, string field)
    {
        var refused = await ledger.Get(path, await ledger.PersonToken(Scenarios.Admin, "auditor", "platform-admin"));
        refused.Status.ShouldBe(400, refused.Text);
        refused.ContentType.ShouldBe("application/problem+json");
        (refused.Node("errors.0.field")?.GetValue<string>()).ShouldBe(field, refused.Text);
        (refused.Node("errors.0.rule")?.GetValue<string>()).ShouldBe("type", refused.Text);
    }

    private async Task<string> NewPendingApp()
    {
        var appId = Scenarios.NewAppId("pending");
        (await ledger.Register(Scenarios.ReviewManifest(appId))).Status.ShouldBe(201);
        return appId;
    }
}
