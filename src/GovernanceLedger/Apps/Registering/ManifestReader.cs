using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.SupplyChain;
using GovernanceLedger.Infrastructure;
using Json.Schema;

namespace GovernanceLedger.Apps.Registering;

/// <summary>
/// Turns a request body into a manifest, or into a problem that lists every violation of
/// schemas/manifest.schema.json with the field's path and the rule it broke.
/// </summary>
public sealed partial class ManifestReader
{
    public const int MaxBytes = 64 * 1024;
    private static readonly EvaluationOptions Options = new() { OutputFormat = OutputFormat.List, RequireFormatValidation = true };
    private readonly JsonSchema _schema;

    public ManifestReader(IHostEnvironment environment)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "schemas", "manifest.schema.json");
        if (!File.Exists(path))
            path = Path.Combine(environment.ContentRootPath, "..", "..", "schemas", "manifest.schema.json");
        // A registry of its own: the global one refuses a second host in the same process (tests, benchmarks).
        _schema = JsonSchema.FromText(Identifiers.AnchorSchemaPatterns(JsonNode.Parse(File.ReadAllText(path))!).ToJsonString(),
            new BuildOptions { SchemaRegistry = new SchemaRegistry() });
    }

    /// <summary>Reads at most <see cref="MaxBytes"/> of strict JSON from the body as an object.</summary>
    public static Task<(JsonObject? Body, Problem? Problem)> ReadObjectAsync(HttpRequest request, CancellationToken ct) =>
        StrictJson.ReadObjectAsync(request, MaxBytes, "The manifest", ct);

    public (AppManifest? Manifest, Problem? Problem) Validate(JsonObject body)
    {
        using var document = JsonDocument.Parse(body.ToJsonString());
        var results = _schema.Evaluate(document.RootElement, Options);
        if (!results.IsValid)
        {
            var violations = (results.Details ?? [])
                .Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.SelectMany(e => ToViolations(d.InstanceLocation.ToString(), e.Key, e.Value)))
                .Distinct()
                .OrderBy(v => v.Field, StringComparer.Ordinal)
                .ToArray();
            return (null, Problem.Invalid($"The manifest breaks {violations.Length} rule(s) of manifest.schema.json.", violations));
        }
        // Names, ids and descriptions are read by people: nothing in them may be invisible.
        var hidden = Identifiers.InvisibleIn(body).Select(field =>
            new Violation(field, "visible-text", $"'{field}' contains a control, invisible or unassigned character")).ToArray();
        if (hidden.Length > 0)
            return (null, Problem.Invalid($"The manifest has {hidden.Length} field(s) with characters a reader cannot see.", hidden));
        var dependencies = Dependencies(body, out var sbomProblems);
        if (sbomProblems.Count > 0)
            return (null, Problem.Invalid($"The SBOM has {sbomProblems.Count} problem(s).", [.. sbomProblems]));
        return (ToManifest(body) with { Dependencies = dependencies }, null);
    }

    /// <summary>Declared packages and models, and the packages of an uploaded SBOM, as one list (declared first, no repeats).</summary>
    private static AppDependencies? Dependencies(JsonObject body, out IReadOnlyList<Violation> problems)
    {
        problems = [];
        if (body["dependencies"] is not JsonObject declared && body["sbom"] is not JsonObject) return null;
        var packages = (body["dependencies"]?["packages"] as JsonArray ?? [])
            .Select(p => new PackageRef(p!["ecosystem"]!.GetValue<string>(), p["name"]!.GetValue<string>(), p["version"]!.GetValue<string>(),
                Stated(p["license"])))
            .ToList();
        var models = (body["dependencies"]?["models"] as JsonArray ?? [])
            .Select(m => new ModelRef(m!["name"]!.GetValue<string>(), m["version"]!.GetValue<string>(), Stated(m["license"]),
                Stated(m["provider"])))
            .ToList();
        string? format = null, sha = null;
        if (body["sbom"] is JsonObject sbom)
        {
            var read = SupplyChain.Sbom.Read(sbom);
            problems = read.Problems;
            (format, sha) = (read.Format, read.Sha256);
            packages.AddRange(read.Packages);
            models.AddRange(read.Models);
        }
        var distinct = packages.DistinctBy(p => (p.Ecosystem, p.Name, p.Version)).ToList();
        return new AppDependencies(distinct, models, format, sha);
    }

    /// <summary>A stated value, trimmed; blank is not stated.</summary>
    private static string? Stated(JsonNode? node) => node?.GetValue<string>().Trim() is { Length: > 0 } text ? text : null;

    private static IEnumerable<Violation> ToViolations(string pointer, string keyword, string message)
    {
        var field = ToPath(pointer);
        if (keyword == "required")
        {
            // The library reports missing properties on the parent object; name each one instead.
            foreach (Match m in QuotedName().Matches(message))
                yield return new Violation(Join(field, m.Groups[1].Value), "required", $"'{m.Groups[1].Value}' is required");
            yield break;
        }
        if (keyword.Length == 0)
        {
            // additionalProperties: false reports the unknown member against the "false" schema.
            yield return new Violation(field, "additionalProperties", $"'{field}' is not a manifest field");
            yield break;
        }
        if (keyword == "pattern" && PatternHints.TryGetValue(FieldName(field), out var hint))
            message = $"{message}: {hint}";
        yield return new Violation(field, keyword, message);
    }

    private static readonly Dictionary<string, string> PatternHints = new()
    {
        ["app_id"] = "a lowercase slug of letters, digits and single hyphens, starting with a letter (e.g. internal-sales-quickview)",
        ["owner"] = "an e-mail address without spaces or control characters",
        ["description"] = "text without control characters",
        ["scopes"] = "action:resource where action is read or write (e.g. read:contacts)",
        ["connectors"] = "kind:name in lowercase (e.g. postgres:salesdb)",
        ["cost_center"] = "letters, digits, '.', '_' or '-'",
        ["template"] = "a lowercase template id",
        ["name"] = "a lowercase identifier (letters, digits, '_')",
        ["fields"] = "a lowercase identifier (letters, digits, '_')",
        ["groups"] = "a lowercase group name (letters, digits, '.', '_' or '-')",
        ["purpose"] = "a sentence without control characters",
        ["version"] = "a version without spaces (e.g. 4.17.21)"
    };

    /// <summary>"datasets[0].fields[2]" is checked against the rule for "fields".</summary>
    private static string FieldName(string path) =>
        path.Split('.').Last() is var last && last.IndexOf('[') is var i and >= 0 ? last[..i] : path.Split('.').Last();

    private static string Join(string parent, string child) => parent.Length == 0 ? child : $"{parent}.{child}";

    /// <summary>"/datasets/0/fields/2" becomes "datasets[0].fields[2]".</summary>
    private static string ToPath(string pointer) =>
        string.Concat(pointer.Split('/', StringSplitOptions.RemoveEmptyEntries)
            .Select((segment, i) => int.TryParse(segment, out _) ? $"[{segment}]" : i == 0 ? segment : $".{segment}"));

    private static AppManifest ToManifest(JsonObject o)
    {
        static List<string> Strings(JsonNode? n) => n?.AsArray().Select(i => i!.GetValue<string>()).ToList() ?? [];
        // JSON Schema counts 30.0 as an integer, so read through decimal rather than int.
        static int? Int(JsonNode? n) => n is null ? null : (int)n.GetValue<decimal>();
        return new AppManifest
        {
            AppId = o["app_id"]!.GetValue<string>(),
            // E-mail addresses are compared case-insensitively everywhere; the ledger keeps one form.
            Owner = o["owner"]!.GetValue<string>().ToLowerInvariant(),
            Description = o["description"]?.GetValue<string>(),
            Scopes = Strings(o["scopes"]),
            Connectors = Strings(o["connectors"]),
            Datasets = o["datasets"]?.AsArray()
                .Select(d => new DatasetRequest(d!["name"]!.GetValue<string>(), Strings(d["fields"]))).ToList() ?? [],
            DataRetentionDays = Int(o["data_retention_days"]),
            ExpiresInDays = Int(o["expires_in_days"]) ?? AppDefaults.ExpiresInDays,
            CostCenter = o["cost_center"]?.GetValue<string>(),
            GeneratedBy = o["generated_by"]?.GetValue<string>() ?? Generators.Human,
            Template = o["template"]?.GetValue<string>(),
            PolicySets = Strings(o["policy_sets"]),
            Quotas = o["quotas"] is JsonObject q
                ? new AppQuotas(Int(q["requests_per_day"]), Int(q["requests_per_second"]), q["rows_per_day"] is { } rows ? (long)rows.GetValue<decimal>() : null)
                : null,
            Audience = o["audience"] is JsonObject a
                ? new AppAudience(Strings(a["people"]).Select(p => p.ToLowerInvariant()).Distinct().ToList(), Strings(a["groups"]))
                : null,
            Purpose = o["purpose"]?.GetValue<string>().Trim()
        };
    }

    [GeneratedRegex("\"([^\"]+)\"")]
    private static partial Regex QuotedName();
}
