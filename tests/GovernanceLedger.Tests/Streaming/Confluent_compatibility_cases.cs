using Avro;
using GovernanceLedger.Streaming.Registry;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>
/// The cases Confluent's registry publishes for its Avro compatibility checker, decided here without a host:
/// the same schemas, the same earlier versions (oldest first, the last one the latest), the same expected verdicts.
/// Where a level is not transitive only the latest earlier version counts, which several cases depend on.
/// </summary>
public sealed class Confluent_compatibility_cases
{
    private static string Record(string fields) => $$"""{"type":"record","name":"myrecord","fields":[{{fields}}]}""";

    private static readonly Dictionary<string, string> Schemas = new()
    {
        // f1 only
        ["1"] = Record("""{"type":"string","name":"f1"}"""),
        // f1, and f2 with a default
        ["2"] = Record("""{"type":"string","name":"f1"},{"type":"string","name":"f2","default":"foo"}"""),
        // f1, and f2 without one
        ["3"] = Record("""{"type":"string","name":"f1"},{"type":"string","name":"f2"}"""),
        // f1 renamed, with an alias to its old name
        ["4"] = Record("""{"type":"string","name":"f1_new","aliases":["f1"]}"""),
        // f1 as a union with null
        ["6"] = Record("""{"type":["null","string"],"name":"f1","doc":"doc of f1"}"""),
        // f1 as a union of null, string and int
        ["7"] = Record("""{"type":["null","string","int"],"name":"f1","doc":"doc of f1"}"""),
        // f1, and f2 and f3 with defaults
        ["8"] = Record("""{"type":"string","name":"f1"},{"type":"string","name":"f2","default":"foo"},{"type":"string","name":"f3","default":"bar"}"""),
    };

    public static TheoryData<string, string, string, bool, string> Cases => new()
    {
        // BACKWARD: the new schema reads data written with the latest one.
        { "BACKWARD", "2", "1", true, "adding a field with a default" },
        { "BACKWARD", "3", "1", false, "adding a field without a default" },
        { "BACKWARD", "4", "1", true, "renaming a field with an alias to the old name" },
        { "BACKWARD", "6", "1", true, "evolving a field's type to a union" },
        { "BACKWARD", "1", "6", false, "removing a type from a union" },
        { "BACKWARD", "7", "6", true, "adding a type to a union" },
        { "BACKWARD", "6", "7", false, "removing a type from a union" },
        { "BACKWARD", "3", "1,2", true, "only the latest version (2) is checked" },
        // BACKWARD_TRANSITIVE: the new schema reads data written with every earlier one.
        { "BACKWARD_TRANSITIVE", "8", "1,2", true, "adding fields with defaults, one by one" },
        { "BACKWARD_TRANSITIVE", "2", "1", true, "adding a field with a default" },
        { "BACKWARD_TRANSITIVE", "3", "2", true, "removing a default, against the one version" },
        { "BACKWARD_TRANSITIVE", "3", "2,1", false, "removing a default, against every version" },
        // FORWARD: the latest schema reads data written with the new one.
        { "FORWARD", "2", "1", true, "adding a field" },
        { "FORWARD", "3", "1", true, "adding a field without a default" },
        { "FORWARD", "3", "2", true, "removing a default" },
        { "FORWARD", "2", "3", true, "adding a default" },
        { "FORWARD", "1", "3,2", true, "only the latest version (2) is checked" },
        // FORWARD_TRANSITIVE: every earlier schema reads data written with the new one.
        { "FORWARD_TRANSITIVE", "1", "8,2", true, "removing fields with defaults, one by one" },
        { "FORWARD_TRANSITIVE", "2", "3", true, "adding a default to a field" },
        { "FORWARD_TRANSITIVE", "1", "2", true, "removing a field with a default" },
        { "FORWARD_TRANSITIVE", "1", "2,3", false, "removing a field that had no default in an earlier version" },
        // FULL: both, against the latest.
        { "FULL", "2", "1", true, "adding a field with a default" },
        { "FULL", "3", "1,2", true, "adding a field without a default, only the latest version (2) checked" },
        { "FULL", "1", "3,2", true, "removing a field without a default, only the latest version (2) checked" },
        // FULL_TRANSITIVE: both, against every earlier version.
        { "FULL_TRANSITIVE", "8", "1,2", true, "adding fields with defaults, one by one" },
        { "FULL_TRANSITIVE", "1", "8,2", true, "removing fields with defaults, one by one" },
        { "FULL_TRANSITIVE", "2", "3", true, "adding a default to a field" },
        { "FULL_TRANSITIVE", "1", "2", true, "removing a field with a default" },
        { "FULL_TRANSITIVE", "2", "1", true, "adding a field with a default" },
        { "FULL_TRANSITIVE", "3", "2", true, "removing a default from a field" },
        { "FULL_TRANSITIVE", "3", "2,1", false, "adding a field without a default, against every version" },
        { "FULL_TRANSITIVE", "1", "2,3", false, "removing a field without a default, against every version" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_published_case_gets_the_published_verdict(string level, string candidate, string earlier, bool compatible, string because)
    {
        var versions = earlier.Split(',').Select((name, i) => (i + 1, Schema.Parse(Schemas[name]))).ToList();
        var reasons = AvroCompatibility.Check(level, Schema.Parse(Schemas[candidate]), versions);
        (reasons.Count == 0).ShouldBe(compatible, $"{level}, schema {candidate} after {earlier}: {because}; reasons: {string.Join(" | ", reasons)}");
    }

    [Fact]
    public void A_string_default_of_the_text_null_on_a_union_with_null_first_is_refused_as_a_bad_default()
    {
        // Confluent's checker tests parse this schema without validating defaults. Registering it here validates them:
        // a union's default must fit its first branch, and "null" the text is not null.
        var schema = """{"type":"record","name":"myrecord","fields":[{"type":["null","string"],"name":"f1","default":"null"},{"type":"string","name":"f2","default":"foo"}]}""";
        var (_, error) = SchemaRegistryLedger.Parse(schema, null);
        error.ShouldNotBeNull();
        error.ErrorCode.ShouldBe(42201);
        error.Rule.ShouldBe("avro-default");
    }
}
