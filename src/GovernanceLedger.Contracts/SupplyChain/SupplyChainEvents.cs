namespace GovernanceLedger.Contracts.SupplyChain;

/// <summary>A package an app uses, as OSV names it: ecosystem (npm, PyPI, NuGet, Maven, Go, crates.io, RubyGems, Packagist), name, version.</summary>
public sealed record PackageRef(string Ecosystem, string Name, string Version, string? License = null);

/// <summary>An AI model an app uses, with its licence (an SPDX id or the model's own licence name).</summary>
public sealed record ModelRef(string Name, string Version, string? License = null, string? Provider = null);

/// <summary>
/// What an app is built from: declared in its manifest, or read from an SBOM it uploaded (<paramref name="Sbom"/> names the
/// format, <paramref name="SbomSha256"/> the document's hash; the SBOM itself is not kept, its components are).
/// </summary>
public sealed record AppDependencies(IReadOnlyList<PackageRef> Packages, IReadOnlyList<ModelRef> Models, string? Sbom = null, string? SbomSha256 = null);

/// <summary>An OSV range: affected from <paramref name="Introduced"/> up to (not including) <paramref name="Fixed"/>, or up to and including <paramref name="LastAffected"/>.</summary>
public sealed record VersionRange(string Introduced, string? Fixed, string? LastAffected);

public sealed record AffectedPackage(string Ecosystem, string Name, IReadOnlyList<string> Versions, IReadOnlyList<VersionRange> Ranges);

/// <summary>One advisory of an OSV snapshot, normalised: severity is CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN.</summary>
public sealed record Advisory(
    string Id, IReadOnlyList<string> Aliases, string Summary, string Severity, double? CvssScore, IReadOnlyList<AffectedPackage> Affected);

/// <summary>
/// The platform imported an advisory snapshot in OSV format. It replaces the one before it whole;
/// <paramref name="Version"/> counts the snapshots, <paramref name="Sha256"/> is the hash of the advisories as imported.
/// </summary>
public sealed record AdvisoriesImported(int Version, string Source, string Sha256, IReadOnlyList<Advisory> Advisories, string Actor, DateTimeOffset At);

/// <summary>A known vulnerability in a package an app uses.</summary>
public sealed record Vulnerability(string AdvisoryId, string Ecosystem, string Package, string Version, string Severity, string Summary, string? FixedIn);

public static class Severities
{
    public const string Critical = "CRITICAL";
    public const string High = "HIGH";
    public const string Medium = "MEDIUM";
    public const string Low = "LOW";
    public const string Unknown = "UNKNOWN";
}
