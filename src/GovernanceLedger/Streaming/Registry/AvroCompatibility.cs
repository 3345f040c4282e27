using Avro;

namespace GovernanceLedger.Streaming.Registry;

/// <summary>
/// Confluent's compatibility levels, decided with Avro's own schema resolution (Schema.CanRead).
/// BACKWARD: the new schema reads data written with the old; FORWARD: the old reads the new; FULL: both.
/// The TRANSITIVE variants check every earlier version instead of only the latest.
/// </summary>
public static class AvroCompatibility
{
    public const string Default = "BACKWARD";
    public static readonly string[] Levels =
        ["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"];

    /// <summary>Every reason the candidate breaks the level against the earlier versions (oldest first); empty when compatible.</summary>
    public static IReadOnlyList<string> Check(string level, Schema candidate, IReadOnlyList<(int Version, Schema Schema)> earlier)
    {
        if (level == "NONE" || earlier.Count == 0) return [];
        var against = level.EndsWith("_TRANSITIVE", StringComparison.Ordinal) ? earlier : [earlier[^1]];
        var backward = level.StartsWith("BACKWARD", StringComparison.Ordinal) || level.StartsWith("FULL", StringComparison.Ordinal);
        var forward = level.StartsWith("FORWARD", StringComparison.Ordinal) || level.StartsWith("FULL", StringComparison.Ordinal);
        var reasons = new List<string>();
        foreach (var (version, old) in against)
        {
            if (backward && !Reads(candidate, old))
                reasons.Add($"{level}: the new schema cannot read data written with version {version}" + Explain(candidate, old));
            if (forward && !Reads(old, candidate))
                reasons.Add($"{level}: version {version} cannot read data written with the new schema" + Explain(old, candidate));
        }
        return reasons;
    }

    /// <summary>
    /// Avro schema resolution, as the specification states it: named types match by unqualified name or by one of the
    /// reader's aliases; a reader field takes the writer field of its name or of one of its aliases, else its default;
    /// an enum reads every symbol the writer may send, unless the reader has a default symbol; fixed sizes are equal;
    /// primitives promote int to long, float, double, long to float, double, float to double, and string and bytes
    /// to each other; a writer union is readable when every branch is, a reader union when some branch reads.
    /// </summary>
    public static bool Reads(Schema reader, Schema writer) => Reads(reader, writer, new Pairs());

    /// <summary>
    /// The record pairs compared so far. A pair being compared, or found readable, is assumed readable when it comes up
    /// again (how a recursive record resolves, and what keeps a type referenced from many fields to one comparison). An
    /// assumption holds only while what it was made under holds: when a reader union's branch fails, every pair assumed
    /// since the branch began is forgotten, so a later branch compares them again. Pairs found unreadable stay so; an
    /// optimistic assumption can only make a comparison pass, so a failure found under one is a failure.
    /// </summary>
    private sealed class Pairs
    {
        private readonly HashSet<(string, string)> _assumed = [];
        private readonly List<(string, string)> _order = [];
        public readonly HashSet<(string, string)> Unreadable = [];

        public bool Assume((string, string) pair)
        {
            if (!_assumed.Add(pair)) return false;
            _order.Add(pair);
            return true;
        }

        public int Mark => _order.Count;

        public void ForgetSince(int mark)
        {
            for (var i = _order.Count - 1; i >= mark; i--) _assumed.Remove(_order[i]);
            _order.RemoveRange(mark, _order.Count - mark);
        }
    }

    private static bool Reads(Schema reader, Schema writer, Pairs pairs)
    {
        if (writer is UnionSchema writerUnion) return writerUnion.Schemas.All(w => Reads(reader, w, pairs));
        if (reader is UnionSchema readerUnion)
            return readerUnion.Schemas.Any(r =>
            {
                var mark = pairs.Mark;
                if (Reads(r, writer, pairs)) return true;
                pairs.ForgetSince(mark);
                return false;
            });
        switch (reader, writer)
        {
            case (LogicalSchema r, _):
                return Reads(r.BaseSchema, writer is LogicalSchema lw ? lw.BaseSchema : writer, pairs);
            case (_, LogicalSchema w):
                return Reads(reader, w.BaseSchema, pairs);
            case (RecordSchema r, RecordSchema w):
                if (!NamesMatch(r, w)) return false;
                var pair = (r.Fullname, w.Fullname);
                if (pairs.Unreadable.Contains(pair)) return false;
                if (!pairs.Assume(pair)) return true;
                if (r.Fields.All(f => WriterField(f, w) is { } old ? Reads(f.Schema, old.Schema, pairs) : f.DefaultValue is not null)) return true;
                pairs.Unreadable.Add(pair);
                return false;
            case (EnumSchema r, EnumSchema w):
                return NamesMatch(r, w) && (r.Default is not null || w.Symbols.All(r.Symbols.Contains));
            case (FixedSchema r, FixedSchema w):
                return NamesMatch(r, w) && r.Size == w.Size;
            case (ArraySchema r, ArraySchema w):
                return Reads(r.ItemSchema, w.ItemSchema, pairs);
            case (MapSchema r, MapSchema w):
                return Reads(r.ValueSchema, w.ValueSchema, pairs);
            case (PrimitiveSchema r, PrimitiveSchema w):
                return Promotes(w.Tag, r.Tag);
            default:
                return false;
        }
    }

    private static bool NamesMatch(NamedSchema reader, NamedSchema writer) =>
        reader.Name == writer.Name || AliasesOf(reader).Any(alias => alias == writer.Fullname || alias.Split('.')[^1] == writer.Name);

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<NamedSchema, string[]> Aliases = new();

    /// <summary>Apache.Avro keeps a named type's aliases in a field it does not expose.</summary>
    private static readonly System.Reflection.FieldInfo? AliasField =
        typeof(NamedSchema).GetField("aliases", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public);

    /// <summary>
    /// A named type's aliases, as written in its schema, read from the parsed schema itself: writing the schema out again to
    /// find them wrote every named type reachable from it, so a union of many aliased records sharing one wide record cost
    /// seconds of CPU per anonymous compatibility check.
    /// </summary>
    private static string[] AliasesOf(NamedSchema schema) => Aliases.GetValue(schema, s =>
    {
        if (AliasField is not null)
            return (AliasField.GetValue(s) as System.Collections.IEnumerable)?.OfType<SchemaName>().Select(n => n.Fullname).ToArray() ?? [];
        using var json = System.Text.Json.JsonDocument.Parse(s.ToString(), new System.Text.Json.JsonDocumentOptions { MaxDepth = 1024 });
        return json.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
            && json.RootElement.TryGetProperty("aliases", out var aliases) && aliases.ValueKind == System.Text.Json.JsonValueKind.Array
            ? aliases.EnumerateArray().Where(a => a.ValueKind == System.Text.Json.JsonValueKind.String).Select(a => a.GetString()!).ToArray()
            : [];
    });

    /// <summary>The writer's field for a reader field: by its name, else by one of its aliases.</summary>
    private static Field? WriterField(Field field, RecordSchema writer)
    {
        if (writer.TryGetField(field.Name, out var same)) return same;
        foreach (var alias in field.Aliases ?? [])
            if (writer.TryGetField(alias, out var aliased)) return aliased;
        return null;
    }

    private static bool Promotes(Schema.Type writer, Schema.Type reader) => writer == reader || (writer, reader) switch
    {
        (Schema.Type.Int, Schema.Type.Long or Schema.Type.Float or Schema.Type.Double) => true,
        (Schema.Type.Long, Schema.Type.Float or Schema.Type.Double) => true,
        (Schema.Type.Float, Schema.Type.Double) => true,
        (Schema.Type.String, Schema.Type.Bytes) or (Schema.Type.Bytes, Schema.Type.String) => true,
        _ => false
    };

    /// <summary>Names the fields that break resolution, down nested records; Avro itself only answers yes or no.</summary>
    private static string Explain(Schema reader, Schema writer)
    {
        var details = new List<string>();
        Explain(RecordOf(reader), RecordOf(writer), "", details, []);
        return details.Count > 0 ? $": {string.Join("; ", details)}" : $" ({Describe(writer)} is not readable as {Describe(reader)})";
    }

    private static void Explain(RecordSchema? reader, RecordSchema? writer, string path, List<string> details, HashSet<(string, string)> seen)
    {
        // Each pair of named records is explained once: a recursive record (a list whose tail is the list)
        // would otherwise be walked for ever, one path segment deeper each time.
        if (reader is null || writer is null || !seen.Add((reader.Fullname, writer.Fullname))) return;
        foreach (var field in reader.Fields)
        {
            var name = path + field.Name;
            if (WriterField(field, writer) is not { } old)
            {
                if (field.DefaultValue is null) details.Add($"field '{name}' is missing on one side and has no default");
                continue;
            }
            if (Reads(field.Schema, old.Schema)) continue;
            var (innerReader, innerWriter) = (RecordOf(field.Schema), RecordOf(old.Schema));
            if (innerReader is not null && innerWriter is not null && innerReader.Name == innerWriter.Name)
                Explain(innerReader, innerWriter, name + ".", details, seen);
            else
                details.Add($"field '{name}' changed type from {Describe(old.Schema)} to {Describe(field.Schema)}");
        }
    }

    private static RecordSchema? RecordOf(Schema schema) => schema switch
    {
        RecordSchema r => r,
        UnionSchema u => u.Schemas.OfType<RecordSchema>().FirstOrDefault(),
        _ => null
    };

    private static string Describe(Schema schema) => schema switch
    {
        UnionSchema u => string.Join("|", u.Schemas.Select(Describe)),
        NamedSchema n => n.Name,
        _ => schema.Tag.ToString().ToLowerInvariant()
    };
}
