using Avro;
using GovernanceLedger.Streaming.Registry;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>The compatibility levels themselves, decided without a host: Avro resolution plus the transitive rule.</summary>
public sealed class Avro_compatibility_tests
{
    private static Schema Probe(string fields) => Schema.Parse($$"""{"type":"record","name":"Probe","fields":[{{fields}}]}""");

    private static readonly Schema V1 = Probe("""{"name":"id","type":"long"}""");
    private static readonly Schema V2 = Probe("""{"name":"id","type":"long"},{"name":"note","type":"string","default":"none"}""");
    private static readonly Schema V3 = Probe("""{"name":"id","type":"long"},{"name":"note","type":"string"}""");

    [Fact]
    public void Backward_checks_only_the_latest_version_and_backward_transitive_checks_them_all()
    {
        AvroCompatibility.Check("BACKWARD", V3, [(1, V1), (2, V2)]).ShouldBeEmpty();
        var transitive = AvroCompatibility.Check("BACKWARD_TRANSITIVE", V3, [(1, V1), (2, V2)]);
        transitive.Count.ShouldBe(1);
        transitive[0].ShouldContain("version 1");
        transitive[0].ShouldContain("field 'note' is missing on one side and has no default");
    }

    [Fact]
    public void Forward_full_and_none_apply_their_own_direction()
    {
        // Removing a field without a default: old readers cannot read new data (FORWARD), new readers can read old (BACKWARD).
        AvroCompatibility.Check("BACKWARD", V1, [(1, V3)]).ShouldBeEmpty();
        AvroCompatibility.Check("FORWARD", V1, [(1, V3)]).ShouldNotBeEmpty();
        AvroCompatibility.Check("FULL", V1, [(1, V3)]).ShouldNotBeEmpty();
        AvroCompatibility.Check("FULL", V2, [(1, V1)]).ShouldBeEmpty();
        AvroCompatibility.Check("NONE", Probe("""{"name":"id","type":"string"}"""), [(1, V1)]).ShouldBeEmpty();
    }

    [Fact]
    public void Unions_are_resolved_branch_by_branch_and_promotions_are_allowed()
    {
        var nullableDouble = Probe("""{"name":"id","type":["null","double"],"default":null}""");
        var nullableString = Probe("""{"name":"id","type":["null","string"],"default":null}""");
        var nullableLong = Probe("""{"name":"id","type":["null","long"],"default":null}""");
        AvroCompatibility.Reads(nullableString, nullableDouble).ShouldBeFalse();
        AvroCompatibility.Reads(nullableDouble, nullableLong).ShouldBeTrue("long promotes to double");
        AvroCompatibility.Check("BACKWARD", nullableString, [(1, nullableDouble)]).Single()
            .ShouldContain("field 'id' changed type from null|double to null|string");
    }

    [Fact]
    public void A_reader_union_branch_that_fails_leaves_no_assumption_behind_for_the_next_branch()
    {
        // Version 1 writes Outer{choice: RecC{inner: Inner{x: string}}}.
        var v1 = Schema.Parse("""
            {"type":"record","name":"Outer","namespace":"t","fields":[{"name":"choice","type":
              {"type":"record","name":"RecC","fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"string"}]}}]}}]}
            """);
        // The candidate reads choice as a union whose first branch matches RecC by alias and fails on Inner.x (string to int);
        // the second branch compares the same Inner pair again and must fail too: x is an int in every branch.
        var v2 = Schema.Parse("""
            {"type":"record","name":"Outer","namespace":"t","fields":[{"name":"choice","type":[
              {"type":"record","name":"RecB","aliases":["RecC"],"fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}}]},
              {"type":"record","name":"RecC","fields":[{"name":"inner","type":"Inner"}]}]}]}
            """);
        AvroCompatibility.Reads(v2, v1).ShouldBeFalse();
        AvroCompatibility.Check("BACKWARD", v2, [(1, v1)]).ShouldNotBeEmpty();
        // The same union whose second branch does read version 1 passes: forgetting is per branch, not a refusal of unions.
        var readable = Schema.Parse("""
            {"type":"record","name":"Outer","namespace":"t","fields":[{"name":"choice","type":[
              {"type":"record","name":"RecB","aliases":["RecC"],"fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}}]},
              {"type":"record","name":"RecC","fields":[{"name":"inner","type":{"type":"record","name":"Inner2","aliases":["Inner"],"fields":[{"name":"x","type":"string"}]}}]}]}]}
            """);
        AvroCompatibility.Reads(readable, v1).ShouldBeTrue();
    }
}
