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
}
