using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.SupplyChain;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.SupplyChain;

/// <summary>
/// Reads the packages out of an uploaded SBOM: CycloneDX JSON (components with a purl, licenses by id or
/// expression, nested components read too, machine-learning-model components as models) or SPDX 2.x JSON (packages
/// with a purl external reference, licenseConcluded or licenseDeclared). Software without a purl cannot be matched
/// against advisories, so it is refused rather than let through unchecked, as is a purl that cannot be read.
/// </summary>
public static class Sbom
{
    public const int MaxComponents = 2000;

    public static (string Format, string Sha256, IReadOnlyList<PackageRef> Packages, IReadOnlyList<ModelRef> Models, IReadOnlyList<Violation> Problems) Read(
        JsonObject document)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(document.ToJsonString())));
        if (document["bomFormat"] is JsonValue format && format.TryGetValue<string>(out var f) && f == "CycloneDX")
            return CycloneDx(document, sha);
        if (document["spdxVersion"] is JsonValue spdx && spdx.TryGetValue<string>(out var v) && v.StartsWith("SPDX-2", StringComparison.Ordinal))
            return Spdx(document, v, sha);
        return ("", sha, [], [], [new Violation("sbom", "sbom-format",
            "The SBOM must be CycloneDX JSON (\"bomFormat\": \"CycloneDX\") or SPDX 2.x JSON (\"spdxVersion\": \"SPDX-2.3\").")]);
    }

    /// <summary>CycloneDX component types that are software a package manager ships: each must carry a purl to be matched.</summary>
    private static readonly HashSet<string> SoftwareTypes = ["library", "framework", "application", "container", "platform"];

    private static (string, string, IReadOnlyList<PackageRef>, IReadOnlyList<ModelRef>, IReadOnlyList<Violation>) CycloneDx(JsonObject bom, string sha)
    {
        var packages = new List<PackageRef>();
        var models = new List<ModelRef>();
        var problems = new List<Violation>();
        var seen = 0;
        // Components nest (an application's own components): every level is read.
        void Walk(JsonArray components, string at, int depth)
        {
            for (var i = 0; i < components.Count; i++)
            {
                var field = $"{at}[{i}]";
                if (++seen > MaxComponents) { problems.Add(new(at, "max-items", $"At most {MaxComponents} components in all.")); return; }
                if (components[i] is not JsonObject component) { problems.Add(new(field, "type", "A component is an object.")); continue; }
                var licenses = (component["licenses"] as JsonArray ?? [])
                    .Select(l => Text(l?["license"]?["id"]) ?? Text(l?["license"]?["name"]) ?? Text(l?["expression"]))
                    .OfType<string>().ToList();
                var license = licenses.Count > 0 ? string.Join(" OR ", licenses) : null;
                var type = Text(component["type"]) ?? "library";
                if (type == "machine-learning-model")
                    models.Add(new ModelRef(Text(component["name"]) ?? "(unnamed)", Text(component["version"]) ?? "(none)", license, Text(component["publisher"])));
                else if (Text(component["purl"]) is { } purl)
                {
                    var parsed = Purl.Parse(purl, out var problem);
                    if (parsed is null) problems.Add(new($"{field}.purl", "purl", $"'{StrictJson.Bounded(purl, 80)}': {problem}."));
                    else packages.Add(new PackageRef(parsed.Value.Ecosystem, parsed.Value.Name, parsed.Value.Version, license));
                }
                else if (SoftwareTypes.Contains(type))
                    problems.Add(new($"{field}.purl", "purl-required",
                        $"Component '{StrictJson.Bounded(Text(component["name"]) ?? "", 60)}' has no purl, so no advisory can be matched to it: add one."));
                if (component["components"] is JsonArray nested)
                {
                    if (depth >= 16) problems.Add(new($"{field}.components", "max-depth", "Components nest at most 16 deep."));
                    else Walk(nested, $"{field}.components", depth + 1);
                }
            }
        }
        Walk(bom["components"] as JsonArray ?? [], "sbom.components", 0);
        var specVersion = Text(bom["specVersion"]);
        return ($"CycloneDX {specVersion}".Trim(), sha, packages, models, problems);
    }

    private static (string, string, IReadOnlyList<PackageRef>, IReadOnlyList<ModelRef>, IReadOnlyList<Violation>) Spdx(JsonObject document, string version, string sha)
    {
        var packages = new List<PackageRef>();
        var problems = new List<Violation>();
        var items = document["packages"] as JsonArray ?? [];
        if (items.Count > MaxComponents)
            return ("", sha, [], [], [new Violation("sbom.packages", "max-items", $"At most {MaxComponents} packages.")]);
        // The package the document describes (the app itself) needs no purl; every other one does.
        var described = (document["documentDescribes"] as JsonArray ?? []).Select(d => Text(d)).OfType<string>()
            .Concat((document["relationships"] as JsonArray ?? [])
                .Where(r => Text(r?["relationshipType"]) == "DESCRIBES" && Text(r?["spdxElementId"]) == "SPDXRef-DOCUMENT")
                .Select(r => Text(r?["relatedSpdxElement"])).OfType<string>())
            .ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var field = $"sbom.packages[{i}]";
            if (items[i] is not JsonObject package) { problems.Add(new(field, "type", "A package is an object.")); continue; }
            var purl = (package["externalRefs"] as JsonArray ?? [])
                .Where(r => Text(r?["referenceType"]) == "purl").Select(r => Text(r?["referenceLocator"])).OfType<string>().FirstOrDefault();
            if (purl is null)
            {
                if (!described.Contains(Text(package["SPDXID"]) ?? ""))
                    problems.Add(new($"{field}.externalRefs", "purl-required",
                        $"Package '{StrictJson.Bounded(Text(package["name"]) ?? "", 60)}' has no purl reference, so no advisory can be matched to it: add one."));
                continue;
            }
            var parsed = Purl.Parse(purl, out var problem);
            if (parsed is null) { problems.Add(new($"{field}.externalRefs", "purl", $"'{StrictJson.Bounded(purl, 80)}': {problem}.")); continue; }
            var license = new[] { Text(package["licenseConcluded"]), Text(package["licenseDeclared"]) }
                .FirstOrDefault(l => l is { Length: > 0 } && l is not ("NOASSERTION" or "NONE"));
            packages.Add(new PackageRef(parsed.Value.Ecosystem, parsed.Value.Name, parsed.Value.Version, license));
        }
        return (version, sha, packages, [], problems);
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;
}
