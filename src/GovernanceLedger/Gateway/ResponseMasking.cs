using System.Buffers;
using System.Text;
using System.Text.Json;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;

namespace GovernanceLedger.Gateway;

/// <summary>
/// Shapes a route's JSON response by its catalog dataset, at any depth and ignoring case: members named
/// like a dataset field the app was not granted are removed (when the app holds a grant on the dataset),
/// and members named like a PII field are masked with the dataset's strategy, as the data proxy masks.
/// The response is read and rewritten in one pass, token by token, without building a document.
/// </summary>
public static class ResponseMasking
{
    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        MaxDepth = StrictJson.MaxDepth, CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false
    };

    /// <summary>A dataset's PII fields by name in any case, built once per catalog entry (a new catalog brings new entries).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<DatasetEntry, Dictionary<string, string>> PiiNames = new();

    /// <summary>
    /// Writes <paramref name="json"/> shaped to <paramref name="output"/> and returns the names of the PII fields that were
    /// present and masked. Throws <see cref="JsonException"/> for a response that is not one strict JSON value (a syntax
    /// error, too deep, a member name twice in one object, text that is not valid Unicode): such a response cannot be masked.
    /// </summary>
    public static IReadOnlyList<string> Mask(ReadOnlySpan<byte> json, IBufferWriter<byte> output, DatasetEntry dataset, Masking masking, bool maskPii,
        IReadOnlyCollection<string>? granted)
    {
        var pii = maskPii ? PiiNames.GetValue(dataset, d => d.Pii.ToDictionary(f => f, f => f, StringComparer.OrdinalIgnoreCase)) : null;
        var withheld = granted is null ? null : dataset.Fields.Where(f => !granted.Contains(f)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var masked = new SortedSet<string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(json, ReaderOptions);
        using var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        // The member names seen so far in each open object: a name twice would let one copy through unshaped to some readers.
        var names = new Stack<HashSet<string>>();
        try
        {
            if (!reader.Read()) throw new JsonException("The response is empty.");
            CopyValue(ref reader, writer, names, pii, withheld, dataset, masking, masked);
            if (reader.Read()) throw new JsonException("The response holds more than one JSON value.");
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // Text the reader cannot turn into a string (a lone surrogate escaped in it) or the writer cannot write (bytes that are not UTF-8).
            throw new JsonException("The response holds text that is not valid Unicode.", e);
        }
        writer.Flush();
        return masked.ToList();
    }

    /// <summary>Copies the value the reader stands on (and everything inside it), shaping the members of every object.</summary>
    private static void CopyValue(ref Utf8JsonReader reader, Utf8JsonWriter writer, Stack<HashSet<string>> names, Dictionary<string, string>? pii,
        HashSet<string>? withheld, DatasetEntry dataset, Masking masking, SortedSet<string> masked)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                writer.WriteStartObject();
                names.Push(new HashSet<string>(StringComparer.Ordinal));
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString()!;
                    if (!names.Peek().Add(name)) throw new JsonException($"The member '{name}' appears twice in one object.");
                    reader.Read();
                    if (withheld is not null && withheld.Contains(name))
                    {
                        // Not granted: the member is left out, whatever its value.
                        reader.Skip();
                        continue;
                    }
                    writer.WritePropertyName(name);
                    if (pii is not null && pii.TryGetValue(name, out var field) && reader.TokenType != JsonTokenType.Null)
                    {
                        // A nested value under a PII name is PII as a whole: its compact JSON text is masked, and never
                        // partially (a partial mask keeps what follows an '@', which could be another member's address).
                        var nested = reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray;
                        var text = reader.TokenType == JsonTokenType.String ? reader.GetString()! : CompactText(ref reader);
                        var strategy = dataset.MaskingFor(field);
                        writer.WriteStringValue(masking.Apply(nested && strategy == "partial" ? "hash" : strategy, text) as string);
                        masked.Add(field);
                    }
                    else
                    {
                        CopyValue(ref reader, writer, names, pii, withheld, dataset, masking, masked);
                    }
                }
                names.Pop();
                writer.WriteEndObject();
                break;
            case JsonTokenType.StartArray:
                writer.WriteStartArray();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    CopyValue(ref reader, writer, names, pii, withheld, dataset, masking, masked);
                writer.WriteEndArray();
                break;
            case JsonTokenType.String:
                if (reader.ValueIsEscaped) writer.WriteStringValue(reader.GetString());
                // Bytes that are not UTF-8 would reach the app as replacement characters: such a response is not passed on.
                else if (!System.Text.Unicode.Utf8.IsValid(reader.ValueSpan)) throw new JsonException("The response holds a string that is not UTF-8.");
                else writer.WriteStringValue(reader.ValueSpan);
                break;
            case JsonTokenType.Number:
                writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
                break;
            case JsonTokenType.True: writer.WriteBooleanValue(true); break;
            case JsonTokenType.False: writer.WriteBooleanValue(false); break;
            case JsonTokenType.Null: writer.WriteNullValue(); break;
            default: throw new JsonException($"Unexpected JSON token {reader.TokenType}.");
        }
    }

    /// <summary>The value the reader stands on as compact JSON text; the reader ends on its last token.</summary>
    private static string CompactText(ref Utf8JsonReader reader)
    {
        using var element = JsonDocument.ParseValue(ref reader);
        return JsonSerializer.Serialize(element.RootElement);
    }
}
