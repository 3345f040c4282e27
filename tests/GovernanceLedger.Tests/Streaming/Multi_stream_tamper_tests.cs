using System.Text.Json.Nodes;
using Confluent.SchemaRegistry;
using GovernanceLedger.Tests.Audit;
using static GovernanceLedger.Tests.Audit.Tampering;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>
/// The read models folded from many streams decide too: a topic grant says who reads a topic, the registry's documents what
/// a producer must be compatible with. One edited, forged, or deleted by a database superuser is named by verify, and the
/// ledger verifies intact again once it is put back.
/// </summary>
[Collection(StreamingCollection.Name)]
public sealed class Multi_stream_tamper_tests(StreamingFixture ledger)
{
    private const string Schema = """{"type":"record","name":"Tampered","namespace":"test","fields":[{"name":"id","type":"long"}]}""";

    /// <summary>A read grant made and revoked, and a subject with a schema and a level of its own: ids of the documents.</summary>
    private async Task<(string Grant, string Subject, int SchemaId)> ScenarioAsync()
    {
        await ledger.OrdersConnector();
        var appId = await ledger.ActiveApp("mstamper");
        var reviewer = await ledger.PersonToken(SecondReviewer, "security-reviewer");
        (await ledger.Post($"/topics/{StreamingScenarios.SalesTopic}/grants", new JsonObject { ["app_id"] = appId, ["reason"] = "reports" }.ToJsonString(), reviewer))
            .Status.ShouldBe(201);
        (await ledger.Send(HttpMethod.Delete, $"/topics/{StreamingScenarios.SalesTopic}/grants/{appId}?reason=reports+retired", null, reviewer)).Status.ShouldBe(200);
        var subject = $"tamper-{Guid.NewGuid():N}-value";
        using var registry = ledger.RegistryClient(await ledger.PersonToken(Admin, "platform-admin"));
        var schemaId = await registry.RegisterSchemaAsync(subject, new Schema(Schema, SchemaType.Avro));
        await registry.UpdateCompatibilityAsync(Compatibility.FullTransitive, subject);
        return ($"{appId}:{StreamingScenarios.SalesTopic}", subject, schemaId);
    }

    [Theory]
    [InlineData("topicgrant", "update ledger.mt_doc_topicgrant set data = jsonb_set(data, '{Active}', 'true') where id = $1", "edited", "differs from the events it folds, folded again (Active)")]
    [InlineData("registrysubject", "update ledger.mt_doc_registrysubject set data = jsonb_set(data, '{Compatibility}', '\"NONE\"') where id = $1", "edited", "(Compatibility)")]
    [InlineData("registeredschema", "update ledger.mt_doc_registeredschema set data = jsonb_set(data, '{Schema}', '\"{}\"') where id = $1::int", "edited", "(Schema)")]
    [InlineData("topicgrant", "delete from ledger.mt_doc_topicgrant where id = $1", "deleted", "is gone, though the events that make it are there")]
    [InlineData("topicgrant", """
        insert into ledger.mt_doc_topicgrant select (json_populate_record(null::ledger.mt_doc_topicgrant,
            (row_to_json(d)::jsonb || jsonb_build_object('id', d.id || ':write', 'data', d.data || '{"Access":"write","Active":true}'))::json)).*
        from ledger.mt_doc_topicgrant d where d.id = $1
        """, "inserted", "is made by none of the events it folds")]
    public async Task A_multi_stream_read_model_edited_forged_or_deleted_is_named_by_verify(string table, string change, string reason, string named)
    {
        var (grant, subject, schemaId) = await ScenarioAsync();
        var id = table switch { "topicgrant" => grant, "registrysubject" => subject, _ => schemaId.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await ledger.Chained(await LastSequenceAsync());
        var before = await ledger.Verify();
        before.Intact.ShouldBeTrue(before.Describe());

        await using var connection = await Superuser(ledger.ConnectionString);
        var row = await Scalar<string>(connection, $"select row_to_json(d)::text from ledger.mt_doc_{table} d where d.id::text = $1", id);
        await Exec(connection, change, id);
        try
        {
            var report = await ledger.Verify();
            report.Intact.ShouldBeFalse();
            var named_ = reason == "inserted" ? $"'{id}:write'" : $"'{id}'";
            report.Problems.ShouldContain(p => p.Reason == reason && p.Detail.Contains(named_) && p.Detail.Contains(named)
                && (reason == "inserted" ? p.Sequence == 0 : p.Sequence > 0), report.Describe());
        }
        finally
        {
            await Exec(connection, $"delete from ledger.mt_doc_{table} where id::text in ($1, $1 || ':write')", id);
            await Exec(connection, $"insert into ledger.mt_doc_{table} select * from json_populate_record(null::ledger.mt_doc_{table}, $1::json)", row);
        }
        var after = await ledger.Verify();
        after.Intact.ShouldBeTrue(after.Describe());
    }

    private async Task<long> LastSequenceAsync()
    {
        await using var connection = await Superuser(ledger.ConnectionString);
        return await Scalar<long>(connection, "select max(seq_id) from ledger.mt_events");
    }
}
