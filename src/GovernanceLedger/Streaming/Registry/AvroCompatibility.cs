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
            if (backward && !candidate.CanRead(old))
                reasons.Add($"{level}: the new schema cannot read data written with version {version}" + Explain(candidate, old));
            if (forward && !old.CanRead(candidate))
                reasons.Add($"{level}: version {version} cannot read data written with the new schema" + Explain(old, candidate));
        }
        return reasons;
    }

    /// <summary>Names the fields that break resolution when both sides are records; Avro itself only answers yes or no.</summary>
    private static string Explain(Schema reader, Schema writer)
    {
        if (reader is not RecordSchema r || writer is not RecordSchema w) return $" ({writer.Name} is not readable as {reader.Name})";
        var details = new List<string>();
        foreach (var field in r.Fields)
        {
            if (!w.TryGetField(field.Name, out var old))
            {
                if (field.DefaultValue is null) details.Add($"field '{field.Name}' is missing on one side and has no default");
                continue;
            }
            if (!field.Schema.CanRead(old.Schema))
                details.Add($"field '{field.Name}' changed type from {Describe(old.Schema)} to {Describe(field.Schema)}");
        }
        return details.Count > 0 ? $": {string.Join("; ", details)}" : "";
    }

    private static string Describe(Schema schema) => schema switch
    {
        UnionSchema u => string.Join("|", u.Schemas.Select(Describe)),
        NamedSchema n => n.Name,
        _ => schema.Tag.ToString().ToLowerInvariant()
    };
}
