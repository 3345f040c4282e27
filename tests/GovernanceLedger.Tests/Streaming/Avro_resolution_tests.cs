using Avro;
using GovernanceLedger.Streaming.Registry;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>
/// The Avro specification's schema resolution, case by case: can a reader with the first schema read data written with
/// the second? Cases written from the specification's rules (named types, aliases, enums, fixed, promotions, unions).
/// </summary>
public sealed class Avro_resolution_tests
{
    private static Schema Record(string name, string fields, string extra = "") =>
        Schema.Parse($$"""{"type":"record","name":"{{name}}"{{extra}},"fields":[{{fields}}]}""");

    private static Schema Field(string type, string extra = "") => Record("R", $$"""{"name":"f","type":{{type}}{{extra}}}""");

    public static TheoryData<string, string, string, bool> Cases => new()
    {
        // name, reader, writer, readable
        { "same primitive", "\"int\"", "\"int\"", true },
        { "int promotes to long", "\"long\"", "\"int\"", true },
        { "int promotes to double", "\"double\"", "\"int\"", true },
        { "long promotes to float", "\"float\"", "\"long\"", true },
        { "float promotes to double", "\"double\"", "\"float\"", true },
        { "long does not narrow to int", "\"int\"", "\"long\"", false },
        { "double does not narrow to float", "\"float\"", "\"double\"", false },
        { "string reads bytes", "\"string\"", "\"bytes\"", true },
        { "bytes reads string", "\"bytes\"", "\"string\"", true },
        { "string does not read int", "\"string\"", "\"int\"", false },
        { "enum with every writer symbol", """{"type":"enum","name":"E","symbols":["A","B","C"]}""", """{"type":"enum","name":"E","symbols":["A","B"]}""", true },
        { "enum missing a symbol the writer may send", """{"type":"enum","name":"E","symbols":["A"]}""", """{"type":"enum","name":"E","symbols":["A","B"]}""", false },
        { "enum missing a symbol, with a reader default", """{"type":"enum","name":"E","symbols":["A","U"],"default":"U"}""", """{"type":"enum","name":"E","symbols":["A","B"]}""", true },
        { "enums match by unqualified name", """{"type":"enum","name":"E","namespace":"one","symbols":["A"]}""", """{"type":"enum","name":"E","namespace":"two","symbols":["A"]}""", true },
        { "enum of another name", """{"type":"enum","name":"F","symbols":["A"]}""", """{"type":"enum","name":"E","symbols":["A"]}""", false },
        { "enum renamed with an alias", """{"type":"enum","name":"F","aliases":["E"],"symbols":["A"]}""", """{"type":"enum","name":"E","symbols":["A"]}""", true },
        { "fixed of the same size", """{"type":"fixed","name":"X","size":4}""", """{"type":"fixed","name":"X","size":4}""", true },
        { "fixed of another size", """{"type":"fixed","name":"X","size":8}""", """{"type":"fixed","name":"X","size":4}""", false },
        { "array items promote", """{"type":"array","items":"long"}""", """{"type":"array","items":"int"}""", true },
        { "map values do not narrow", """{"type":"map","values":"int"}""", """{"type":"map","values":"long"}""", false },
        { "a union reads each writer branch", """["null","long"]""", """["null","int"]""", true },
        { "a non-union reader misses the writer's null", "\"string\"", """["null","string"]""", false },
        { "a reader union reads a plain writer", """["null","string"]""", "\"string\"", true },
        { "a reader union without the writer's type", """["null","int"]""", "\"string\"", false }
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_field_reads_as_the_specification_says(string name, string reader, string writer, bool readable) =>
        AvroCompatibility.Reads(Field(reader), Field(writer)).ShouldBe(readable, name);

    [Fact]
    public void A_field_renamed_with_an_alias_to_its_old_name_reads_old_data()
    {
        var writer = Record("R", """{"name":"old_name","type":"string"}""");
        AvroCompatibility.Reads(Record("R", """{"name":"new_name","type":"string","aliases":["old_name"]}"""), writer).ShouldBeTrue();
        AvroCompatibility.Reads(Record("R", """{"name":"new_name","type":"string"}"""), writer).ShouldBeFalse();
        AvroCompatibility.Reads(Record("R", """{"name":"new_name","type":"string","default":""}"""), writer).ShouldBeTrue();
    }

    [Fact]
    public void Records_match_by_unqualified_name_or_a_reader_alias()
    {
        var writer = Record("Old", """{"name":"id","type":"long"}""", ",\"namespace\":\"a.b\"");
        AvroCompatibility.Reads(Record("Old", """{"name":"id","type":"long"}""", ",\"namespace\":\"c.d\""), writer).ShouldBeTrue();
        AvroCompatibility.Reads(Record("New", """{"name":"id","type":"long"}""", ",\"namespace\":\"a.b\",\"aliases\":[\"Old\"]"), writer).ShouldBeTrue();
        AvroCompatibility.Reads(Record("New", """{"name":"id","type":"long"}"""), writer).ShouldBeFalse();
    }

    [Fact]
    public void Removing_an_enum_symbol_is_not_backward_compatible_unless_the_reader_has_a_default()
    {
        var v1 = Field("""{"type":"enum","name":"E","symbols":["A","B"]}""");
        AvroCompatibility.Check("BACKWARD", Field("""{"type":"enum","name":"E","symbols":["A"]}"""), [(1, v1)]).ShouldNotBeEmpty();
        AvroCompatibility.Check("BACKWARD", Field("""{"type":"enum","name":"E","symbols":["A","Z"],"default":"Z"}"""), [(1, v1)]).ShouldBeEmpty();
        // Adding one is backward compatible, and not forward (old readers meet a symbol they lack).
        var added = Field("""{"type":"enum","name":"E","symbols":["A","B","C"]}""");
        AvroCompatibility.Check("BACKWARD", added, [(1, v1)]).ShouldBeEmpty();
        AvroCompatibility.Check("FORWARD", added, [(1, v1)]).ShouldNotBeEmpty();
    }
}
