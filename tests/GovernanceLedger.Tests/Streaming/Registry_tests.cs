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

    [Fact]
    public async Task The_rest_contract_answers_with_confluents_status_codes_error_codes_and_media_types()
    {
        var subject = $"contract-{Guid.NewGuid():N}-value";
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        byte[] Body(string schema) => System.Text.Encoding.UTF8.GetBytes(new System.Text.Json.Nodes.JsonObject { ["schema"] = schema }.ToJsonString());
        Task<ApiResponse> Accepting(string path, string accept) =>
            ledger.SendRaw(HttpMethod.Get, path, null, null, null, new Dictionary<string, string> { ["Accept"] = accept });
        static int Code(ApiResponse r) => r.Json!["error_code"]!.GetValue<int>();

        // Bodies in the registry's media types register; any other type is 415 and registers nothing.
        var plain = await ledger.SendRaw(HttpMethod.Post, $"/registry/subjects/{subject}/versions", Body(V1), "text/plain", admin);
        plain.Status.ShouldBe(415, plain.Text);
        Code(plain).ShouldBe(415);
        Code(await ledger.Get($"/registry/subjects/{subject}/versions", null)).ShouldBe(40401);
        var registered = await ledger.SendRaw(HttpMethod.Post, $"/registry/subjects/{subject}/versions", Body(V1), "application/vnd.schemaregistry.v1+json", admin);
        registered.Status.ShouldBe(200, registered.Text);
        registered.ContentType.ShouldBe("application/vnd.schemaregistry.v1+json");
        var id = registered.Json!["id"]!.GetValue<int>();
        (await ledger.SendRaw(HttpMethod.Post, $"/registry/subjects/{subject}/versions", Body(V2), "application/octet-stream", admin)).Status.ShouldBe(200);

        // Answers come in the type the Accept header asks for; one the registry cannot produce is 406.
        (await Accepting($"/registry/subjects/{subject}/versions/1", "application/json")).ContentType.ShouldBe("application/json");
        (await Accepting($"/registry/subjects/{subject}/versions/1", "application/vnd.schemaregistry+json, */*;q=0.5")).ContentType.ShouldBe("application/vnd.schemaregistry+json");
        (await Accepting($"/registry/subjects/{subject}/versions/1", "*/*")).ContentType.ShouldBe("application/vnd.schemaregistry.v1+json");
        var html = await Accepting($"/registry/subjects/{subject}/versions/1", "text/html");
        html.Status.ShouldBe(406);
        Code(html).ShouldBe(406);

        // A schema by id: the text alone, and where it is used.
        (await ledger.Get($"/registry/schemas/ids/{id}/schema", null)).Text.ShouldContain("\"Probe\"");
        (await ledger.Get($"/registry/schemas/ids/{id}/subjects", null)).Json!.AsArray().Select(n => n!.GetValue<string>()).ShouldContain(subject);
        var usages = (await ledger.Get($"/registry/schemas/ids/{id}/versions", null)).Json!.AsArray();
        usages.ShouldContain(u => u!["subject"]!.GetValue<string>() == subject && u["version"]!.GetValue<int>() == 1);
        foreach (var path in new[] { "", "/schema", "/subjects", "/versions" })
        {
            var missing = await ledger.Get($"/registry/schemas/ids/987654321{path}", null);
            missing.Status.ShouldBe(404, path);
            Code(missing).ShouldBe(40403);
        }
        (await ledger.Get($"/registry/subjects/{subject}/versions/1/referencedby", null)).Json!.AsArray().ShouldBeEmpty();
        Code(await ledger.Get($"/registry/subjects/{subject}/versions/7/referencedby", null)).ShouldBe(40402);
        (await ledger.Get("/registry/mode", null)).Json!["mode"]!.GetValue<string>().ShouldBe("READWRITE");

        // Error codes: an incompatible schema 409/40901, a bad level 42203, a bad subject name 42208.
        var incompatible = await ledger.Post($"/registry/subjects/{subject}/versions", new System.Text.Json.Nodes.JsonObject { ["schema"] = Required }.ToJsonString(), admin);
        incompatible.Status.ShouldBe(409);
        Code(incompatible).ShouldBe(40901);
        var level = await ledger.Send(HttpMethod.Put, $"/registry/config/{subject}", """{"compatibility":"SOMETIMES"}""", admin);
        level.Status.ShouldBe(422);
        Code(level).ShouldBe(42203);
        var badName = await ledger.Post("/registry/subjects/bad%20name/versions", new System.Text.Json.Nodes.JsonObject { ["schema"] = V1 }.ToJsonString(), admin);
        badName.Status.ShouldBe(422);
        Code(badName).ShouldBe(42208);

        // Compatibility: an invalid schema is 42201, or, with verbose, incompatible with the parser's reason.
        var broken = new System.Text.Json.Nodes.JsonObject { ["schema"] = """{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}""" }.ToJsonString();
        Code(await ledger.Post($"/registry/compatibility/subjects/{subject}/versions/latest", broken, null)).ShouldBe(42201);
        var verbose = await ledger.Post($"/registry/compatibility/subjects/{subject}/versions/latest?verbose=true", broken, null);
        verbose.Status.ShouldBe(200, verbose.Text);
        verbose.Json!["is_compatible"]!.GetValue<bool>().ShouldBeFalse();
        verbose.Json!["messages"]![0]!.GetValue<string>().ShouldContain("nope");
        // A subject with nothing registered: anything fits "latest", a numbered version does not exist.
        var fresh = $"fresh-{Guid.NewGuid():N}-value";
        var candidate = new System.Text.Json.Nodes.JsonObject { ["schema"] = V1 }.ToJsonString();
        (await ledger.Post($"/registry/compatibility/subjects/{fresh}/versions/latest", candidate, null)).Json!["is_compatible"]!.GetValue<bool>().ShouldBeTrue();
        Code(await ledger.Post($"/registry/compatibility/subjects/{fresh}/versions/3", candidate, null)).ShouldBe(40402);
        // Lookup: an unknown subject is 40401, a schema it never registered 40403.
        Code(await ledger.Post($"/registry/subjects/{fresh}", candidate, null)).ShouldBe(40401);
        Code(await ledger.Post($"/registry/subjects/{subject}", new System.Text.Json.Nodes.JsonObject { ["schema"] = Required }.ToJsonString(), null)).ShouldBe(40403);

        // Confluent's own client reads the new answers unchanged.
        using var client = ledger.RegistryClient();
        (await client.GetRegisteredSchemaAsync(subject, 2, false)).Version.ShouldBe(2);
        (await client.LookupSchemaAsync(subject, new Schema(V1, SchemaType.Avro), false, false)).Id.ShouldBe(id);
    }
}
