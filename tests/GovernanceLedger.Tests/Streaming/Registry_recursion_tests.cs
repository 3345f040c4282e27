using System.Text.Json.Nodes;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>Schemas built to exhaust the stack: recursive named types and deep nesting are answered, never fatal.</summary>
[Collection(StreamingCollection.Name)]
public sealed class Registry_recursion_tests(StreamingFixture ledger)
{
    private static string List(string head) =>
        $$"""{"type":"record","name":"List","namespace":"test","fields":[{"name":"head","type":"{{head}}"},{"name":"tail","type":["null","List"],"default":null}]}""";

    private static string Body(string schema) => new JsonObject { ["schema"] = schema }.ToJsonString();

    [Fact]
    public async Task A_recursive_record_is_checked_with_cycle_detection_and_the_host_stays_up()
    {
        var subject = $"list-{Guid.NewGuid():N}-value";
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        (await ledger.Post($"/registry/subjects/{subject}/versions", Body(List("long")), admin)).Status.ShouldBe(200);

        // Anonymous, as in the attack: long written, int read is not a promotion Avro allows.
        var narrowed = await ledger.Post($"/registry/compatibility/subjects/{subject}/versions/latest", Body(List("int")), null);
        narrowed.Status.ShouldBe(200, narrowed.Text);
        narrowed.Json!["is_compatible"]!.GetValue<bool>().ShouldBeFalse();

        var same = await ledger.Post($"/registry/compatibility/subjects/{subject}/versions/latest", Body(List("long")), null);
        same.Json!["is_compatible"]!.GetValue<bool>().ShouldBeTrue(same.Text);

        // Mutually recursive records, both ways round.
        var pair = """{"type":"record","name":"A","namespace":"test","fields":[{"name":"b","type":["null",{"type":"record","name":"B","fields":[{"name":"a","type":["null","A"]},{"name":"n","type":"long"}]}]}]}""";
        var pairSubject = $"pair-{Guid.NewGuid():N}-value";
        (await ledger.Post($"/registry/subjects/{pairSubject}/versions", Body(pair), admin)).Status.ShouldBe(200);
        var pairInt = pair.Replace("\"long\"", "\"int\"");
        (await ledger.Post($"/registry/compatibility/subjects/{pairSubject}/versions/latest", Body(pairInt), null)).Status.ShouldBe(200);

        (await ledger.Get("/health", null)).Status.ShouldBe(200);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(5_000)]
    public async Task A_deeply_nested_schema_is_refused_with_422_not_a_crash(int depth)
    {
        var subject = $"deep-{Guid.NewGuid():N}-value";
        var schema = string.Concat(Enumerable.Repeat("""{"type":"array","items":""", depth)) + "\"long\"" + new string('}', depth);
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var registered = await ledger.Post($"/registry/subjects/{subject}/versions", Body(schema), admin);
        registered.Status.ShouldBe(422, registered.Text);
        (await ledger.Post($"/registry/compatibility/subjects/{subject}/versions/latest", Body(schema), null)).Status.ShouldBeOneOf(404, 422);
        (await ledger.Get("/health", null)).Status.ShouldBe(200);
    }

    [Theory]
    [InlineData("rt-sub%0A")]
    [InlineData("rt-sub%E2%80%8B")]
    [InlineData("rt-%D1%81ub")]
    [InlineData("rt-sub%20")]
    [InlineData("rt%2Fsub")]
    public async Task A_subject_is_one_plain_name(string encoded)
    {
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var refused = await ledger.Post($"/registry/subjects/{encoded}/versions", Body("\"string\""), admin);
        refused.Status.ShouldBeOneOf([404, 422], refused.Text);
        (await ledger.Get("/registry/subjects", null)).Text.ShouldNotContain("rt-");
    }
}
