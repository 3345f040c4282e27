using GovernanceLedger.Contracts.SupplyChain;

namespace GovernanceLedger.SupplyChain;

/// <summary>Which advisories of a snapshot affect which of an app's packages, by OSV's rules: listed versions and ranges.</summary>
public static class AdvisoryMatcher
{
    public static IReadOnlyList<Vulnerability> Match(AppDependencies? dependencies, IReadOnlyList<Advisory> advisories)
    {
        if (dependencies is not { Packages.Count: > 0 } || advisories.Count == 0) return [];
        var found = new List<Vulnerability>();
        foreach (var package in dependencies.Packages)
        foreach (var advisory in advisories)
        foreach (var affected in advisory.Affected)
        {
            if (!affected.Ecosystem.Equals(package.Ecosystem, StringComparison.OrdinalIgnoreCase) || !SameName(affected, package)) continue;
            var (hit, fixedIn) = Affects(affected, package.Version);
            if (!hit) continue;
            found.Add(new Vulnerability(advisory.Id, package.Ecosystem, package.Name, package.Version, advisory.Severity, advisory.Summary, fixedIn));
            break;
        }
        return found.DistinctBy(v => (v.AdvisoryId, v.Package, v.Version)).ToList();
    }

    /// <summary>
    /// PyPI names compare normalised ('-', '_' and '.' alike); every name compares without regard to case. Some
    /// ecosystems' names are case-sensitive, but matching more is the safe side: a differently cased name is a
    /// typo or a disguise far more often than a different package.
    /// </summary>
    private static bool SameName(AffectedPackage affected, PackageRef package) => package.Ecosystem switch
    {
        "PyPI" => Normalise(affected.Name) == Normalise(package.Name),
        _ => affected.Name.Equals(package.Name, StringComparison.OrdinalIgnoreCase)
    };

    private static string Normalise(string name) => name.ToLowerInvariant().Replace('_', '-').Replace('.', '-');

    /// <summary>Listed exactly, or inside a range: introduced (0 is the beginning) up to fixed, or up to and including last_affected.</summary>
    public static (bool Affected, string? FixedIn) Affects(AffectedPackage affected, string version)
    {
        if (affected.Versions.Any(v => VersionOrder.Compare(v, version) == 0)) return (true, affected.Ranges.Select(r => r.Fixed).FirstOrDefault(f => f is not null));
        foreach (var range in affected.Ranges)
        {
            var from = range.Introduced is "0" or "" || VersionOrder.Compare(version, range.Introduced) >= 0;
            if (!from) continue;
            if (range.Fixed is { } fixedVersion && VersionOrder.Compare(version, fixedVersion) >= 0) continue;
            if (range.LastAffected is { } last && VersionOrder.Compare(version, last) > 0) continue;
            return (true, range.Fixed);
        }
        return (false, null);
    }
}

/// <summary>
/// Orders versions as semantic versioning does, extended to the dotted forms other ecosystems use: numeric
/// parts compare as numbers, a leading 'v' is ignored, and a pre-release (anything after '-', or letters
/// after the numbers, as in 1.0rc1) sorts before the release itself. Build metadata (+...) is ignored.
/// </summary>
public static class VersionOrder
{
    public static int Compare(string a, string b)
    {
        var (mainA, preA) = Split(a);
        var (mainB, preB) = Split(b);
        var length = Math.Max(mainA.Length, mainB.Length);
        for (var i = 0; i < length; i++)
        {
            var x = i < mainA.Length ? mainA[i] : "0";
            var y = i < mainB.Length ? mainB[i] : "0";
            var c = ComparePart(x, y);
            if (c != 0) return c;
        }
        if (preA.Length == 0 || preB.Length == 0) return preA.Length == 0 ? (preB.Length == 0 ? 0 : 1) : -1;
        var partsA = preA.Split('.');
        var partsB = preB.Split('.');
        for (var i = 0; i < Math.Min(partsA.Length, partsB.Length); i++)
        {
            var c = ComparePart(partsA[i], partsB[i]);
            if (c != 0) return c;
        }
        return partsA.Length.CompareTo(partsB.Length);
    }

    private static (string[] Main, string Pre) Split(string version)
    {
        var v = version.Trim();
        if (v.StartsWith('v') || v.StartsWith('V')) v = v[1..];
        var plus = v.IndexOf('+');
        if (plus >= 0) v = v[..plus];
        var dash = v.IndexOf('-');
        var pre = "";
        if (dash >= 0)
        {
            pre = v[(dash + 1)..];
            v = v[..dash];
        }
        var parts = v.Split('.');
        // "1.0rc1": the letters start a pre-release of 1.0.
        var last = parts[^1];
        var letter = last.IndexOf(last.FirstOrDefault(char.IsLetter));
        if (letter > 0 && pre.Length == 0)
        {
            pre = last[letter..];
            parts[^1] = last[..letter];
        }
        return (parts, pre);
    }

    /// <summary>Numbers as numbers; a number before letters; mixed parts ("beta10") run by run, so beta9 comes before beta10.</summary>
    private static int ComparePart(string x, string y)
    {
        var numX = long.TryParse(x, out var nx);
        var numY = long.TryParse(y, out var ny);
        if (numX && numY) return nx.CompareTo(ny);
        if (numX != numY) return numX ? -1 : 1;
        var (runsX, runsY) = (Runs(x), Runs(y));
        for (var i = 0; i < Math.Min(runsX.Count, runsY.Count); i++)
        {
            var digitsX = long.TryParse(runsX[i], out var rx);
            var digitsY = long.TryParse(runsY[i], out var ry);
            var c = digitsX && digitsY ? rx.CompareTo(ry) : string.CompareOrdinal(runsX[i], runsY[i]);
            if (c != 0) return c;
        }
        return runsX.Count.CompareTo(runsY.Count);
    }

    private static List<string> Runs(string part)
    {
        var runs = new List<string>();
        var start = 0;
        for (var i = 1; i <= part.Length; i++)
            if (i == part.Length || char.IsAsciiDigit(part[i]) != char.IsAsciiDigit(part[i - 1]))
            {
                runs.Add(part[start..i]);
                start = i;
            }
        return runs;
    }
}
