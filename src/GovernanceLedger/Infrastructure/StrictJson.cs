using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// The one way a JSON request body is read. A body is accepted only when every reader would see the
/// same thing: a JSON media type, valid UTF-8, no duplicate member names (one copy would otherwise win
/// silently), strings that are valid UTF-16 (no lone surrogates), numbers representable as decimals,
/// and bounded size and depth. Anything else is a problem naming the field and the rule, never a 500.
/// </summary>
public static class StrictJson
{
    public const int MaxDepth = 32;

    public static readonly JsonDocumentOptions DocumentOptions = new()
    {
        MaxDepth = MaxDepth,
        AllowDuplicateProperties = false,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false
    };

    /// <summary>application/json, or any application/*+json type (the schema registry's among them).</summary>
    public static bool IsJsonMediaType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType)) return false;
        if (!Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)) return false;
        if (media.Charset.HasValue && !media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)) return false;
        var type = media.MediaType.Value ?? "";
        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Whether the request carries a body at all (a length above zero, or a chunked body).</summary>
    public static bool HasBody(HttpRequest request) =>
        request.ContentLength > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0);

    /// <summary>
    /// Reads the whole body (at most <paramref name="maxBytes"/>) and checks it. <paramref name="what"/> names the
    /// body in messages ("The manifest", "The query"). <paramref name="mediaTypeChecked"/>: the caller has already
    /// decided which media types it takes.
    /// </summary>
    public static async Task<(byte[]? Bytes, Problem? Problem)> ReadAsync(HttpRequest request, int maxBytes, string what, CancellationToken ct,
        bool mediaTypeChecked = false)
    {
        if (!mediaTypeChecked && !IsJsonMediaType(request.ContentType))
            return (null, new Problem(StatusCodes.Status415UnsupportedMediaType, "https://governance-ledger.dev/problems/media-type",
                "Unsupported media type", $"{what} must be sent as application/json (UTF-8).",
                [new Violation("content-type", "media-type", $"{what} must be sent as application/json (UTF-8); got '{Bounded(request.ContentType ?? "none", 80)}'.")]));
        if (request.ContentLength > maxBytes) return (null, TooLarge(what, maxBytes));

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > maxBytes) return (null, TooLarge(what, maxBytes));
        }
        var bytes = buffer.ToArray();
        if (bytes.Length == 0)
            return (null, Problem.Invalid("", "required", $"{what} is missing: send a JSON object."));
        return Check(bytes, what) is { } problem ? (null, problem) : (bytes, null);
    }

    /// <summary>Reads and checks the body, then parses it as an object.</summary>
    public static async Task<(JsonObject? Body, Problem? Problem)> ReadObjectAsync(HttpRequest request, int maxBytes, string what, CancellationToken ct)
    {
        var (bytes, problem) = await ReadAsync(request, maxBytes, what, ct);
        if (problem is not null) return (null, problem);
        return JsonNode.Parse(bytes, documentOptions: DocumentOptions) is JsonObject body
            ? (body, null)
            : (null, Problem.Invalid("", "type", $"{what} must be a JSON object."));
    }

    /// <summary>Null when the bytes are strict JSON; otherwise the first problem, with the field's path.</summary>
    public static Problem? Check(ReadOnlyMemory<byte> bytes, string what)
    {
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span))
            return Problem.Invalid("", "utf-8", $"{what} is not valid UTF-8.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, DocumentOptions);
        }
        catch (JsonException e)
        {
            var duplicate = e.Message.Contains("duplicate", StringComparison.OrdinalIgnoreCase);
            var field = duplicate ? DuplicatePath(bytes) : e.Path is { Length: > 1 } path ? ToField(path) : "";
            if (duplicate)
                return Problem.Invalid(field, "duplicate-key", $"{what} names a member twice{(field.Length > 0 ? $" at '{field}'" : "")}; each member may appear once.");
            // "The maximum configured depth of 32 has been exceeded": a text that ends inside an open object ("Expected depth
            // to be zero at the end of the JSON payload") is truncated JSON, not too deep.
            return e.Message.Contains("maximum configured depth", StringComparison.OrdinalIgnoreCase)
                ? Problem.Invalid(field, "max-depth", $"{what} is nested deeper than {MaxDepth} levels.")
                : Problem.Invalid(field, "json", $"{what} is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}).");
        }
        catch (ArgumentException)
        {
            return Problem.Invalid("", "utf-8", $"{what} is not valid UTF-8.");
        }
        using (document)
            return Walk(document.RootElement, "", what);
    }

    private static Problem? Walk(JsonElement element, string path, string what)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                // Bodies bind to commands without regard to case: "reason" and "REASON" are the same member twice.
                var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                foreach (var member in element.EnumerateObject())
                {
                    if (!IsWellFormed(member.Name))
                        return Problem.Invalid(path, "utf-16", $"{what} has a member name that is not valid Unicode text.");
                    if (!names.Add(member.Name))
                    {
                        var twice = path.Length == 0 ? member.Name : $"{path}.{member.Name}";
                        return Problem.Invalid(twice, "duplicate-key", $"{what} names a member twice at '{twice}' (letter case aside); each member may appear once.");
                    }
                    var inner = Walk(member.Value, path.Length == 0 ? member.Name : $"{path}.{member.Name}", what);
                    if (inner is not null) return inner;
                }
                return null;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    var inner = Walk(item, $"{path}[{i++}]", what);
                    if (inner is not null) return inner;
                }
                return null;
            case JsonValueKind.String:
                string text;
                try
                {
                    text = element.GetString()!;
                }
                catch (InvalidOperationException)
                {
                    return Problem.Invalid(path, "utf-16", $"'{path}' is not valid Unicode text (a lone surrogate).");
                }
                if (!IsWellFormed(text)) return Problem.Invalid(path, "utf-16", $"'{path}' is not valid Unicode text (a lone surrogate).");
                // PostgreSQL text and jsonb cannot hold U+0000: refused here rather than failing deep inside.
                return text.Contains('\0') ? Problem.Invalid(path, "nul", $"'{path}' contains a NUL character.") : null;
            case JsonValueKind.Number:
                return element.TryGetDecimal(out _) && SignificantDigits(element.GetRawText()) <= 28
                    ? null
                    : Problem.Invalid(path, "number-range", $"'{path}' is a number outside the range this service accepts (at most 28 significant digits, no overflow).");
            default:
                return null;
        }
    }

    /// <summary>Digits of the mantissa without leading zeros: a decimal keeps 28 of them, beyond that a value would be rounded silently.</summary>
    private static int SignificantDigits(string number)
    {
        var mantissa = number.Split('e', 'E')[0].TrimStart('-').Replace(".", "", StringComparison.Ordinal).TrimStart('0');
        return mantissa.Length;
    }

    /// <summary>Where the first repeated member name is ("filter[0].value"), for the refusal to name it.</summary>
    private static string DuplicatePath(ReadOnlyMemory<byte> bytes)
    {
        using var document = JsonDocument.Parse(bytes, DocumentOptions with { AllowDuplicateProperties = true });
        return Find(document.RootElement, "") ?? "";

        static string? Find(JsonElement element, string path)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var member in element.EnumerateObject())
                    {
                        var child = path.Length == 0 ? member.Name : $"{path}.{member.Name}";
                        if (!seen.Add(member.Name)) return child;
                        if (Find(member.Value, child) is { } inner) return inner;
                    }
                    return null;
                case JsonValueKind.Array:
                    var i = 0;
                    foreach (var item in element.EnumerateArray())
                        if (Find(item, $"{path}[{i++}]") is { } inner) return inner;
                    return null;
                default:
                    return null;
            }
        }
    }

    private static bool IsWellFormed(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]))
            {
                if (i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(text[i])) return false;
        }
        return true;
    }

    /// <summary>"$.filter[0].value" becomes "filter[0].value".</summary>
    private static string ToField(string jsonPath) => jsonPath.TrimStart('$').TrimStart('.');

    private static Problem TooLarge(string what, int maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, "https://governance-ledger.dev/problems/too-large", "Payload too large",
            $"{what} must be at most {maxBytes} bytes.", [new Violation("", "max-bytes", $"{what} must be at most {maxBytes} bytes.")]);

    /// <summary>Cuts untrusted text to a documented size before it is echoed or stored.</summary>
    public static string Bounded(string text, int max) => text.Length <= max ? text : text[..max] + "…";
}
