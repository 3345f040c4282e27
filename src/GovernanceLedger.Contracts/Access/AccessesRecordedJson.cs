using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace GovernanceLedger.Contracts.Access;

/// <summary>
/// The stored form of <see cref="AccessesRecorded"/>: each field its accesses have in common once, in "Shared", and
/// each access's other fields in its entry of "Accesses":
/// <code>{"AppId": …, "At": …, "Shared": {"Route": "crm", "Status": 200, …}, "Accesses": [{"RequestId": …, "At": …, "LatencyMs": …}, …]}</code>
/// An access is its entry over Shared; a field in neither is null (only nulls are left out). Packs written before Shared
/// existed hold each access whole, with no Shared, and read the same. Field names follow the serializer's naming
/// policy, as every other event's do. Most of a pack's accesses differ only in request id, time and latency, so the
/// stored JSON is about a fifth of each access written whole, and PostgreSQL parses, logs and hashes that much less.
/// </summary>
public sealed class AccessesRecordedJson : JsonConverter<AccessesRecorded>
{
    public const string Shared = "Shared";

    private delegate void WriteField(Utf8JsonWriter writer, JsonEncodedText name, AccessRecorded access);

    /// <summary>One member of <see cref="AccessRecorded"/>: whether two accesses hold the same, whether it is null, how it is written.</summary>
    private sealed record Field(string Name, Func<AccessRecorded, AccessRecorded, bool> Same, Func<AccessRecorded, bool> IsNull, WriteField Write);

    private static Field Text(string name, Func<AccessRecorded, string?> get) =>
        new(name, (a, b) => string.Equals(get(a), get(b), StringComparison.Ordinal), a => get(a) is null, (w, n, a) => w.WriteString(n, get(a)));

    private static Field Number(string name, Func<AccessRecorded, long?> get) =>
        new(name, (a, b) => get(a) == get(b), a => get(a) is null, (w, n, a) => w.WriteNumber(n, get(a)!.Value));

    // Every member of AccessRecorded, in its constructor's order; a unit test holds this list to the record's members.
    private static readonly Field[] Fields =
    [
        Text(nameof(AccessRecorded.RequestId), a => a.RequestId),
        Text(nameof(AccessRecorded.AppId), a => a.AppId),
        Text(nameof(AccessRecorded.ClaimedApp), a => a.ClaimedApp),
        Text(nameof(AccessRecorded.EndUser), a => a.EndUser),
        Text(nameof(AccessRecorded.TokenId), a => a.TokenId),
        Text(nameof(AccessRecorded.Plane), a => a.Plane),
        Text(nameof(AccessRecorded.Route), a => a.Route),
        Text(nameof(AccessRecorded.Method), a => a.Method),
        Text(nameof(AccessRecorded.Path), a => a.Path),
        Number(nameof(AccessRecorded.Status), a => a.Status),
        new(nameof(AccessRecorded.LatencyMs), (a, b) => a.LatencyMs.Equals(b.LatencyMs), _ => false, (w, n, a) => w.WriteNumber(n, a.LatencyMs)),
        Number(nameof(AccessRecorded.BytesIn), a => a.BytesIn),
        Number(nameof(AccessRecorded.BytesOut), a => a.BytesOut),
        Text(nameof(AccessRecorded.Decision), a => a.Decision),
        Text(nameof(AccessRecorded.Reason), a => a.Reason),
        Text(nameof(AccessRecorded.PolicyId), a => a.PolicyId),
        Number(nameof(AccessRecorded.PolicyVersion), a => a.PolicyVersion),
        Text(nameof(AccessRecorded.TraceId), a => a.TraceId),
        new(nameof(AccessRecorded.At), (a, b) => a.At.Equals(b.At) && a.At.Offset == b.At.Offset, _ => false, (w, n, a) => w.WriteString(n, a.At)),
        new(nameof(AccessRecorded.MaskedFields),
            (a, b) => a.MaskedFields is null ? b.MaskedFields is null : b.MaskedFields is not null && a.MaskedFields.SequenceEqual(b.MaskedFields, StringComparer.Ordinal),
            a => a.MaskedFields is null,
            (w, n, a) =>
            {
                w.WriteStartArray(n);
                foreach (var field in a.MaskedFields!) w.WriteStringValue(field);
                w.WriteEndArray();
            }),
    ];

    /// <summary>The members this form writes, for the test that holds it to <see cref="AccessRecorded"/>'s.</summary>
    public static IReadOnlyList<string> Members => Fields.Select(f => f.Name).ToList();

    /// <summary>Member names as the serializer's naming policy writes them, encoded once per set of options.</summary>
    private sealed record Names(JsonEncodedText AppId, JsonEncodedText At, JsonEncodedText Shared, JsonEncodedText Accesses, JsonEncodedText[] Fields);

    private static readonly ConditionalWeakTable<JsonSerializerOptions, Names> NamesByOptions = new();

    private static Names NamesFor(JsonSerializerOptions options) => NamesByOptions.GetValue(options, o =>
    {
        JsonEncodedText Name(string name) => JsonEncodedText.Encode(o.PropertyNamingPolicy?.ConvertName(name) ?? name, o.Encoder);
        return new Names(Name(nameof(AccessesRecorded.AppId)), Name(nameof(AccessesRecorded.At)), Name(Shared),
            Name(nameof(AccessesRecorded.Accesses)), Fields.Select(f => Name(f.Name)).ToArray());
    });

    public override void Write(Utf8JsonWriter writer, AccessesRecorded value, JsonSerializerOptions options)
    {
        var names = NamesFor(options);
        var accesses = value.Accesses;
        // A field is shared when every access holds the same; with no accesses there is nothing to share.
        var shared = new bool[Fields.Length];
        for (var f = 0; f < Fields.Length; f++)
        {
            shared[f] = accesses.Count > 0;
            for (var i = 1; i < accesses.Count && shared[f]; i++) shared[f] = Fields[f].Same(accesses[0], accesses[i]);
        }

        writer.WriteStartObject();
        writer.WriteString(names.AppId, value.AppId);
        writer.WriteString(names.At, value.At);
        writer.WriteStartObject(names.Shared);
        if (accesses.Count > 0)
            for (var f = 0; f < Fields.Length; f++)
                if (shared[f] && !Fields[f].IsNull(accesses[0])) Fields[f].Write(writer, names.Fields[f], accesses[0]);
        writer.WriteEndObject();
        writer.WriteStartArray(names.Accesses);
        foreach (var access in accesses)
        {
            writer.WriteStartObject();
            for (var f = 0; f < Fields.Length; f++)
                if (!shared[f] && !Fields[f].IsNull(access)) Fields[f].Write(writer, names.Fields[f], access);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public override AccessesRecorded Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var names = NamesFor(options);
        if (JsonNode.Parse(ref reader) is not JsonObject pack) throw new JsonException("An AccessesRecorded is a JSON object.");
        JsonNode? Member(JsonObject o, JsonEncodedText name) =>
            o.TryGetPropertyValue(name.Value, out var node) ? node
            : o.FirstOrDefault(p => string.Equals(p.Key, name.Value, StringComparison.OrdinalIgnoreCase)).Value;

        var sharedFields = Member(pack, names.Shared) as JsonObject;
        var accesses = new List<AccessRecorded>();
        if (Member(pack, names.Accesses) is JsonArray entries)
            foreach (var entry in entries)
            {
                if (entry is not JsonObject own) throw new JsonException("Each of an AccessesRecorded's accesses is a JSON object.");
                // The entry over Shared: what the entry holds itself wins.
                var whole = new JsonObject();
                if (sharedFields is not null)
                    foreach (var (name, node) in sharedFields)
                        if (!own.ContainsKey(name)) whole[name] = node?.DeepClone();
                foreach (var (name, node) in own) whole[name] = node?.DeepClone();
                accesses.Add(whole.Deserialize<AccessRecorded>(options) ?? throw new JsonException("An access of an AccessesRecorded is null."));
            }
        return new AccessesRecorded(
            Member(pack, names.AppId)?.Deserialize<string>(options) ?? throw new JsonException("An AccessesRecorded names its app (AppId)."),
            Member(pack, names.At) is { } at ? at.Deserialize<DateTimeOffset>(options) : throw new JsonException("An AccessesRecorded has its time (At)."),
            accesses);
    }
}
