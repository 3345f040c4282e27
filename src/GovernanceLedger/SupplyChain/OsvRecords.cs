using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.SupplyChain;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.SupplyChain;

/// <summary>
/// Reads advisories in the OSV schema (https://ossf.github.io/osv-schema/): id, aliases, summary, affected packages
/// with versions and SEMVER or ECOSYSTEM ranges (GIT ranges name commits, not releases, and are skipped), and a
/// severity from database_specific.severity (as GitHub's advisories give it) or else the CVSS v3 vector's base score.
/// </summary>
public static class OsvRecords
{
    public const int MaxAdvisories = 20_000;

    public static (IReadOnlyList<Advisory> Advisories, IReadOnlyList<Violation> Problems) Read(JsonArray records, string field)
    {
        var advisories = new List<Advisory>();
        var problems = new List<Violation>();
        if (records.Count > MaxAdvisories) return ([], [new Violation(field, "max-items", $"At most {MaxAdvisories} advisories per snapshot.")]);
        for (var i = 0; i < records.Count; i++)
        {
            var at = $"{field}[{i}]";
            if (records[i] is not JsonObject record) { problems.Add(new(at, "type", "An advisory is an OSV object.")); continue; }
            if (Text(record["id"]) is not { } id) { problems.Add(new($"{at}.id", "required", "An OSV advisory has an id.")); continue; }
            if (record["affected"] is not JsonArray affectedList || affectedList.Count == 0)
            {
                problems.Add(new($"{at}.affected", "required", $"Advisory {StrictJson.Bounded(id, 40)} names no affected package."));
                continue;
            }
            var affected = new List<AffectedPackage>();
            for (var j = 0; j < affectedList.Count; j++)
            {
                var package = affectedList[j]?["package"];
                if (Text(package?["ecosystem"]) is not { } ecosystem || Text(package?["name"]) is not { } name)
                {
                    problems.Add(new($"{at}.affected[{j}].package", "required", "An affected package has an ecosystem and a name."));
                    continue;
                }
                // "Debian:12", "Alpine:v3.18": the release after the colon is not part of the ecosystem's name.
                ecosystem = ecosystem.Split(':')[0];
                var versions = (affectedList[j]!["versions"] as JsonArray ?? []).Select(Text).OfType<string>().ToList();
                var ranges = (affectedList[j]!["ranges"] as JsonArray ?? [])
                    .Where(r => Text(r?["type"]) is "SEMVER" or "ECOSYSTEM")
                    .SelectMany(r => Ranges(r!["events"] as JsonArray ?? [])).ToList();
                affected.Add(new AffectedPackage(ecosystem, name, versions, ranges));
            }
            if (affected.Count == 0) continue;
            var (severity, score) = Severity(record);
            advisories.Add(new Advisory(id, (record["aliases"] as JsonArray ?? []).Select(Text).OfType<string>().ToList(),
                StrictJson.Bounded(Text(record["summary"]) ?? Text(record["details"]) ?? id, 300), severity, score, affected));
        }
        return (advisories, problems);
    }

    /// <summary>OSV events in order: each "introduced" opens a range that the next "fixed" or "last_affected" closes.</summary>
    private static IEnumerable<VersionRange> Ranges(JsonArray events)
    {
        string? introduced = null;
        foreach (var e in events)
        {
            if (Text(e?["introduced"]) is { } start)
            {
                if (introduced is not null) yield return new VersionRange(introduced, null, null);
                introduced = start;
            }
            else if (introduced is not null && Text(e?["fixed"]) is { } fixedVersion)
            {
                yield return new VersionRange(introduced, fixedVersion, null);
                introduced = null;
            }
            else if (introduced is not null && Text(e?["last_affected"]) is { } last)
            {
                yield return new VersionRange(introduced, null, last);
                introduced = null;
            }
        }
        if (introduced is not null) yield return new VersionRange(introduced, null, null);
    }

    private static (string Severity, double? Score) Severity(JsonObject record)
    {
        var vector = (record["severity"] as JsonArray ?? [])
            .Where(s => Text(s?["type"]) is "CVSS_V3" or "CVSS_V31" or "CVSS_V30").Select(s => Text(s?["score"])).OfType<string>().FirstOrDefault();
        var score = vector is null ? null : Cvss3.BaseScore(vector);
        var named = Text(record["database_specific"]?["severity"])
            ?? (record["affected"] as JsonArray ?? []).Select(a => Text(a?["ecosystem_specific"]?["severity"])).OfType<string>().FirstOrDefault();
        var severity = named?.ToUpperInvariant() switch
        {
            "CRITICAL" => Severities.Critical,
            "HIGH" => Severities.High,
            "MODERATE" or "MEDIUM" => Severities.Medium,
            "LOW" => Severities.Low,
            _ => score switch
            {
                >= 9.0 => Severities.Critical,
                >= 7.0 => Severities.High,
                >= 4.0 => Severities.Medium,
                > 0 => Severities.Low,
                _ => Severities.Unknown
            }
        };
        return (severity, score);
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;
}

/// <summary>The CVSS v3.0/3.1 base score of a vector (CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H), by the specification's formula.</summary>
public static class Cvss3
{
    public static double? BaseScore(string vector)
    {
        var metrics = vector.Split('/').Skip(1).Select(m => m.Split(':')).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (!vector.StartsWith("CVSS:3.", StringComparison.Ordinal)) return null;
        string Get(string key) => metrics.TryGetValue(key, out var value) ? value : "";
        var changed = Get("S") == "C";
        double? av = Get("AV") switch { "N" => 0.85, "A" => 0.62, "L" => 0.55, "P" => 0.2, _ => null };
        double? ac = Get("AC") switch { "L" => 0.77, "H" => 0.44, _ => null };
        double? pr = Get("PR") switch { "N" => 0.85, "L" => changed ? 0.68 : 0.62, "H" => changed ? 0.5 : 0.27, _ => null };
        double? ui = Get("UI") switch { "N" => 0.85, "R" => 0.62, _ => null };
        double? Cia(string key) => Get(key) switch { "H" => 0.56, "L" => 0.22, "N" => 0.0, _ => null };
        if (av is null || ac is null || pr is null || ui is null || Cia("C") is not { } c || Cia("I") is not { } i || Cia("A") is not { } a
            || Get("S") is not ("U" or "C"))
            return null;
        var iss = 1 - (1 - c) * (1 - i) * (1 - a);
        var impact = changed ? 7.52 * (iss - 0.029) - 3.25 * Math.Pow(iss - 0.02, 15) : 6.42 * iss;
        var exploitability = 8.22 * av.Value * ac.Value * pr.Value * ui.Value;
        if (impact <= 0) return 0;
        return RoundUp(Math.Min(changed ? 1.08 * (impact + exploitability) : impact + exploitability, 10));
    }

    /// <summary>The specification's Roundup: the smallest number with one decimal that is at least the input, free of floating-point drift.</summary>
    private static double RoundUp(double value)
    {
        var integer = (long)Math.Round(value * 100_000);
        return integer % 10_000 == 0 ? integer / 100_000.0 : (Math.Floor(integer / 10_000.0) + 1) / 10.0;
    }
}
