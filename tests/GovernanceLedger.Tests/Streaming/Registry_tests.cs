using Confluent.SchemaRegistry;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

[Collection(StreamingCollection.Name)]
public sealed class Registry_tests(StreamingFixture ledger)
{
    private const string V1 = """{"type":"record","name":"Probe","namespace":"test","fields":[{"name":"id","type":"long"}]}""";
    private const string V2 = """{"type":"record","name":"Probe","namespace":"test","fields":[{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null}]}""";
    private const string Required = """{"type":"record","name":"Probe","namespace":"test","fields":[{"name":"id","type":"long"},{"name":"note","type":"string"}]}""";

    [Fact]
    public async Task The_ledger_serves_a_registry_that_confluents_client_uses_with_every_compatibility_level()
    {
        var subject = $"probe-{Guid.NewGuid():N}-value";
        using var registry = ledger.RegistryClient(await ledger.PersonToken(Admin, "platform-admin"));
        var id1 = await registry.RegisterSchemaAsync(subject, new Schema(V1, SchemaType.Avro));
        (await registry.RegisterSchemaAsync(subject, new Schema(V1, SchemaType.Avro))).ShouldBe(id1, "the same schema keeps its id");
        (await registry.IsCompatibleAsync(subject, new Schema(V2, SchemaType.Avro))).ShouldBeTrue();
        (await registry.IsCompatibleAsync(subject, new Schema(Required, SchemaType.Avro))).ShouldBeFalse();
        // As in Confluent's registry: no level of its own (40408), so the global default, BACKWARD, applies.
        (await Should.ThrowAsync<SchemaRegistryException>(() => registry.GetCompatibilityAsync(subject))).ErrorCode.ShouldBe(40408);
        (await registry.GetCompatibilityAsync()).ShouldBe(Compatibility.Backward);

        // FORWARD: old readers must read new data; adding a required field is fine, removing one is not.
        await registry.UpdateCompatibilityAsync(Compatibility.Forward, subject);
        (await registry.GetCompatibilityAsync(subject)).ShouldBe(Compatibility.Forward);
        var id2 = await registry.RegisterSchemaAsync(subject, new Schema(Required, SchemaType.Avro));
        await registry.UpdateCompatibilityAsync(Compatibility.FullTransitive, subject);
        // Re-registering a known schema returns its id; a new one must now be FULL against every version.
        (await registry.RegisterSchemaAsync(subject, new Schema(V1, SchemaType.Avro))).ShouldBe(id1);
        var renamed = """{"type":"record","name":"Probe","namespace":"test","fields":[{"name":"id","type":"string"}]}""";
        var refused = await Should.ThrowAsync<SchemaRegistryException>(() => registry.RegisterSchemaAsync(subject, new Schema(renamed, SchemaType.Avro)));
        refused.Status.ShouldBe(System.Net.HttpStatusCode.Conflict);
        refused.Message.ShouldContain("FULL_TRANSITIVE");
        refused.Message.ShouldContain("version 1");
        await registry.UpdateCompatibilityAsync(Compatibility.None, subject);
        (await registry.RegisterSchemaAsync(subject, new Schema("""{"type":"record","name":"Other","fields":[{"name":"x","type":"int"}]}""", SchemaType.Avro))).ShouldBeGreaterThan(id2);

        (await registry.GetSubjectVersionsAsync(subject)).ShouldBe([1, 2, 3]);
        (await registry.GetSchemaAsync(id1)).SchemaString.ShouldContain("\"Probe\"");
        (await registry.GetAllSubjectsAsync()).ShouldContain(subject);
        var latest = await registry.GetLatestSchemaAsync(subject);
        latest.Version.ShouldBe(3);
    }

    [Fact]
    public async Task Registering_needs_a_platform_admin_and_bad_schemas_are_refused_with_the_reason()
    {
        var subject = $"probe-{Guid.NewGuid():N}-value";
        using (var anonymous = ledger.RegistryClient())
            (await Should.ThrowAsync<Exception>(() => anonymous.RegisterSchemaAsync(subject, new Schema(V1, SchemaType.Avro)))).Message.ShouldContain("Unauthorized");
        using (var owner = ledger.RegistryClient(await ledger.PersonToken(Owner, "app-owner")))
        {
            var forbidden = await Should.ThrowAsync<SchemaRegistryException>(() => owner.RegisterSchemaAsync(subject, new Schema(V1, SchemaType.Avro)));
            forbidden.Status.ShouldBe(System.Net.HttpStatusCode.Forbidden);
        }
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var broken = await ledger.Post($"/registry/subjects/{subject}/versions", """{"schema":"{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":\"nope\"}]}"}""", admin);
        broken.Status.ShouldBe(422);
        broken.Json!["error_code"]!.GetValue<int>().ShouldBe(42201);
        broken.Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("schema");
        var wrongType = await ledger.Post($"/registry/subjects/{subject}/versions", """{"schema":"{}","schemaType":"PROTOBUF"}""", admin);
        wrongType.Json!["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe("avro-only");
        (await ledger.Get($"/registry/subjects/{subject}/versions", null)).Json!["error_code"]!.GetValue<int>().ShouldBe(40401);

        // Append-only: nothing registered can be deleted, by anyone.
        var delete = await ledger.Send(HttpMethod.Delete, "/registry/subjects/sales.events.v1-value", null, admin);
        delete.Status.ShouldBe(405);
        delete.Json!["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe("append-only");
        (await ledger.Get("/registry/subjects/sales.events.v1-value/versions", null)).Status.ShouldBe(200);
    }

    [Theory]
    [InlineData("\"string\"", "null")]
    [InlineData("\"int\"", "\"abc\"")]
    [InlineData("\"int\"", "3000000000")]
    [InlineData("[\"string\",\"null\"]", "null")]
    [InlineData("{\"type\":\"enum\",\"name\":\"Colour\",\"symbols\":[\"RED\"]}", "\"BLUE\"")]
    [InlineData("{\"type\":\"array\",\"items\":\"long\"}", "[1, \"two\"]")]
    public async Task A_default_that_does_not_fit_its_field_is_refused_with_42201_and_nothing_is_registered(string type, string fieldDefault)
    {
        var subject = $"defaults-{Guid.NewGuid():N}-value";
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var schema = $$"""{"type":"record","name":"D","fields":[{"name":"f","type":{{type}},"default":{{fieldDefault}}}]}""";
        var refused = await ledger.Post($"/registry/subjects/{subject}/versions", new System.Text.Json.Nodes.JsonObject { ["schema"] = schema }.ToJsonString(), admin);
        refused.Status.ShouldBe(422, refused.Text);
        refused.Json!["error_code"]!.GetValue<int>().ShouldBe(42201);
        refused.Json!["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe("avro-default");
        refused.Text.ShouldContain("D.f");
        (await ledger.Get($"/registry/subjects/{subject}/versions", null)).Json!["error_code"]!.GetValue<int>().ShouldBe(40401);
    }

    [Fact]
    public async Task Defaults_that_fit_register_and_compatibility_checks_follow_the_version_named_or_the_level()
    {
        var subject = $"compat-{Guid.NewGuid():N}-value";
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        async Task<ApiResponse> Register(string schema) =>
            await ledger.Post($"/registry/subjects/{subject}/versions", new System.Text.Json.Nodes.JsonObject { ["schema"] = schema }.ToJsonString(), admin);
        (await ledger.Send(HttpMethod.Put, $"/registry/config/{subject}", """{"compatibility":"NONE"}""", admin)).Status.ShouldBe(200);
        // v1 has a; v2 has only b (no default): a reader of v2 cannot read v1's data, and the reverse.
        (await Register("""{"type":"record","name":"C","fields":[{"name":"a","type":"int","default":0},{"name":"u","type":["null","string"],"default":null},{"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]},"default":"Y"}]}""")).Status.ShouldBe(200);
        (await Register("""{"type":"record","name":"C","fields":[{"name":"b","type":"string"}]}""")).Status.ShouldBe(200);
        (await ledger.Send(HttpMethod.Put, $"/registry/config/{subject}", """{"compatibility":"BACKWARD_TRANSITIVE"}""", admin)).Status.ShouldBe(200);
        var candidate = new System.Text.Json.Nodes.JsonObject { ["schema"] = """{"type":"record","name":"C","fields":[{"name":"b","type":"string"},{"name":"c","type":"int","default":1}]}""" }.ToJsonString();

        // Named: version 2 only, which the candidate reads; version 1 it cannot.
        var latest = await ledger.Post($"/registry/compatibility/subjects/{subject}/versions/latest", candidate, null);
        latest.Json!["is_compatible"]!.GetValue<bool>().ShouldBeTrue(latest.Text);
        (await ledger.Post($"/registry/compatibility/subjects/{subject}/versions/1", candidate, null)).Json!["is_compatible"]!.GetValue<bool>().ShouldBeFalse();
        // None named: as a registration under BACKWARD_TRANSITIVE would be checked, against every version.
        var all = await ledger.Post($"/registry/compatibility/subjects/{subject}/versions?verbose=true", candidate, null);
        all.Status.ShouldBe(200, all.Text);
        all.Json!["is_compatible"]!.GetValue<bool>().ShouldBeFalse();
        all.Json!["messages"]!.AsArray().ShouldNotBeEmpty();

        // A version that is not one answers 422/42202; one that does not exist, 404/40402.
        foreach (var notAVersion in new[] { "0", "-2", "one", "1.5" })
        {
            var bad = await ledger.Post($"/registry/compatibility/subjects/{subject}/versions/{notAVersion}", candidate, null);
            bad.Status.ShouldBe(422, notAVersion);
            bad.Json!["error_code"]!.GetValue<int>().ShouldBe(42202);
            (await ledger.Get($"/registry/subjects/{subject}/versions/{notAVersion}", null)).Json!["error_code"]!.GetValue<int>().ShouldBe(42202);
        }
        (await ledger.Post($"/registry/compatibility/subjects/{subject}/versions/9", candidate, null)).Json!["error_code"]!.GetValue<int>().ShouldBe(40402);
    }
}
