namespace GovernanceLedger.SupplyChain;

/// <summary>
/// Package URLs (pkg:type/namespace/name@version) as OSV names packages: the purl type gives the ecosystem,
/// and the name is written the way that ecosystem's advisories write it (npm "@scope/name", Maven "group:artifact",
/// Go the whole module path).
/// </summary>
public static class Purl
{
    private static readonly Dictionary<string, string> Ecosystems = new(StringComparer.OrdinalIgnoreCase)
    {
        ["npm"] = "npm", ["pypi"] = "PyPI", ["nuget"] = "NuGet", ["maven"] = "Maven", ["golang"] = "Go",
        ["cargo"] = "crates.io", ["gem"] = "RubyGems", ["composer"] = "Packagist"
    };

    public static IReadOnlyCollection<string> KnownTypes => Ecosystems.Keys;

    /// <summary>The package a purl names, or why it cannot be read.</summary>
    public static (string Ecosystem, string Name, string Version)? Parse(string purl, out string? problem)
    {
        problem = null;
        if (!purl.StartsWith("pkg:", StringComparison.Ordinal))
        {
            problem = "a purl starts with pkg:";
            return null;
        }
        var rest = purl[4..];
        // Qualifiers and subpath do not name the package.
        var cut = rest.IndexOfAny(['?', '#']);
        if (cut >= 0) rest = rest[..cut];
        var at = rest.LastIndexOf('@');
        if (at <= 0 || at == rest.Length - 1)
        {
            problem = "a purl needs @version";
            return null;
        }
        var version = Uri.UnescapeDataString(rest[(at + 1)..]);
        // Empty segments are dropped, as the specification says; "." and ".." name nothing and are refused.
        var path = rest[..at].Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
        if (path.Any(segment => segment is "." or ".." || segment.Contains('/') || segment.Trim().Length == 0))
        {
            problem = "a purl's namespace and name segments may not be empty, '.', '..' or contain an encoded '/'";
            return null;
        }
        if (path.Length < 2 || !Ecosystems.TryGetValue(path[0], out var ecosystem))
        {
            problem = $"the purl type must be one of {string.Join(", ", Ecosystems.Keys)}";
            return null;
        }
        var segments = path[1..];
        var name = ecosystem switch
        {
            "Maven" when segments.Length == 2 => $"{segments[0]}:{segments[1]}",
            "npm" or "Go" or "Packagist" => string.Join('/', segments),
            "PyPI" => segments[^1].ToLowerInvariant().Replace('_', '-'),
            _ => segments[^1]
        };
        return (ecosystem, name, version);
    }
}
