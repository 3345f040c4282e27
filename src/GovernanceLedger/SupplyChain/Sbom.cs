using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.SupplyChain;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.SupplyChain;

/// <summary>
/// Reads the packages out of an uploaded SBOM: CycloneDX JSON (components with a purl, licenses by id or
/// expression) or SPDX 2.x JSON (packages with a purl external reference, licenseConcluded or licenseDeclared).
/// Components without a purl are not packages OSV can match and are skipped; a purl that cannot be read is
/// a violation naming the component.
/// </summary>
public static class Sbom
{
    public const int MaxComponents = 2000;

    public static (string Format, string Sha256, IReadOnlyList<PackageRef> Packages, IReadOnlyList<Violation> Problems) Read(JsonObject document)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(document.ToJsonString())));
        if (document["bomFormat"] is JsonValue format && format.TryGetValue<string>(out var f) && f == "CycloneDX")
            return CycloneDx(document, sha);
        if (document["spdxVersion"] is JsonValue spdx && spdx.TryGetValue<string>(out var v) && v.StartsWith("SPDX-2", StringComparison.Ordinal))
            return Spdx(document, v, sha);
        return ("", sha, [], [new Violation("sbom", "sbom-format",
            "The SBOM must be CycloneDX JSON (\"bomFormat\": \"CycloneDX\") or SPDX 2.x JSON (\"spdxVersion\": \"SPDX-2.3\").")]);
    }

    private static (string, string, IReadOnlyList<PackageRef>, IReadOnlyList<Violation>) CycloneDx(JsonObject bom, string sha)
    {
        var packages = new List<PackageRef>();
        var problems = new List<Violation>();
        var components = bom["components"] as JsonArray ?? [];
        if (components.Count > MaxComponents)
            return ("", sha, [], [new Violation("sbom.components", "max-items", $"At most {MaxComponents} components.")]);
        for (var i = 0; i < components.Count; i++)
        {
            var field = $"sbom.components[{i}]";
            if (components[i] is not JsonObject component) { problems.Add(new(field, "type", "A component is an object.")); continue; }
            if (Text(component["purl"]) is not { } purl) continue;
            var parsed = Purl.Parse(purl, out var problem);
            if (parsed is null) { problems.Add(new($"{field}.purl", "purl", $"'{StrictJson.Bounded(purl, 80)}': {problem}.")); continue; }
            var licenses = (component["licenses"] as JsonArray ?? [])
                .Select(l => Text(l?["license"]?["id"]) ?? Text(l?["license"]?["name"]) ?? Text(l?["expression"]))
                .OfType<string>().ToList();
            packages.Add(new PackageRef(parsed.Value.Ecosystem, parsed.Value.Name, parsed.Value.Version, licenses.Count > 0 ? string.Join(" OR ", licenses) : null));
        }
        var specVersion = Text(bom["specVersion"]);
        return ($"CycloneDX {specVersion}".Trim(), sha, packages, problems);
    }

    private static (string, string, IReadOnlyList<PackageRef>, IReadOnlyList<Violation>) Spdx(JsonObject document, string version, string sha)
    {
        var packages = new List<PackageRef>();
        var problems = new List<Violation>();
        var items = document["packages"] as JsonArray ?? [];
        if (items.Count > MaxComponents)
            return ("", sha, [], [new Violation("sbom.packages", "max-items", $"At most {MaxComponents} packages.")]);
        for (var i = 0; i < items.Count; i++)
        {
            var field = $"sbom.packages[{i}]";
            if (items[i] is not JsonObject package) { problems.Add(new(field, "type", "A package is an object.")); continue; }
            var purl = (package["externalRefs"] as JsonArray ?? [])
                .Where(r => Text(r?["referenceType"]) == "purl").Select(r => Text(r?["referenceLocator"])).OfType<string>().FirstOrDefault();
            if (purl is null) continue;
            var parsed = Purl.Parse(purl, out var problem);
            if (parsed is null) { problems.Add(new($"{field}.externalRefs", "purl", $"'{StrictJson.Bounded(purl, 80)}': {problem}.")); continue; }
            var license = new[] { Text(package["licenseConcluded"]), Text(package["licenseDeclared"]) }
                .FirstOrDefault(l => l is { Length: > 0 } && l is not ("NOASSERTION" or "NONE"));
            packages.Add(new PackageRef(parsed.Value.Ecosystem, parsed.Value.Name, parsed.Value.Version, license));
        }
        return (version, sha, packages, problems);
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;
}
