namespace GovernanceLedger.Gateway;

/// <summary>
/// One upstream API behind /gw/{name}/..., bound from "Gateway:Routes". A route exposes only the paths
/// it declares, each for one method with the scopes it needs; any other path is refused (404) and
/// recorded, so two routes that share an upstream cannot read each other's data.
/// </summary>
public sealed class GatewayRoute
{
    public string Name { get; init; } = "";
    public string Upstream { get; init; } = "";
    public List<ExposedPath> Paths { get; init; } = [];
    /// <summary>The catalog dataset the route's JSON responses carry: its PII fields are masked as the data proxy masks them.</summary>
    public string? Dataset { get; init; }
    /// <summary>
    /// Set when the upstream keeps data apps write (survey responses, interactions): the ledger asks it to purge a retired
    /// app's data when the app's retention runs out. See <see cref="Operations.Retention.RetentionStores"/> for the contract.
    /// </summary>
    public RouteRetention? Retention { get; init; }
}

public sealed class RouteRetention
{
    /// <summary>The upstream path (from "/") that purges one app's data: POST {"app_id", "purge_id"}, answered {"purged": n}.</summary>
    public string PurgePath { get; init; } = "";
}

/// <summary>A method and a path pattern ("/contacts/{id}": literal segments and one-segment parameters), with its scopes.</summary>
public sealed class ExposedPath
{
    public string Method { get; init; } = "";
    public string Pattern { get; init; } = "";
    public List<string> Scopes { get; init; } = [];
    /// <summary>Optional JSON Schema (under schemas/) that request bodies must satisfy.</summary>
    public string? BodySchema { get; init; }
}

public sealed class GatewayOptions
{
    public List<GatewayRoute> Routes { get; init; } = [];
    public int MaxBodyBytes { get; init; } = 256 * 1024;
    /// <summary>Responses that must be masked are read whole; larger ones are refused rather than passed unmasked.</summary>
    public int MaxMaskedResponseBytes { get; init; } = 8 * 1024 * 1024;
    /// <summary>The most <see cref="MaxMaskedResponseBytes"/> may be set to.</summary>
    public const int MaxMaskedResponseLimit = 256 * 1024 * 1024;
    /// <summary>When set (Development), a demo CRM and survey API is started here for the demo routes.</summary>
    public string? DemoUpstreamUrl { get; init; }
}

/// <summary>Where a request path lands on a route: the exposed path it matches, or why it matches none.</summary>
public static class RouteMatch
{
    public enum Outcome { Matched, NotExposed, MethodNotAllowed }

    /// <summary>
    /// <paramref name="path"/> is what follows /gw/{route}. Only plain segments of unreserved characters
    /// are accepted (no '%', '..', '.', empty segments, backslashes or ';'), so the path matched is
    /// byte for byte the path the upstream receives.
    /// </summary>
    public static (Outcome Outcome, ExposedPath? Path) Find(GatewayRoute route, string method, string path)
    {
        if (!IsCanonical(path)) return (Outcome.NotExposed, null);
        var segments = path.Split('/')[1..];
        var matching = route.Paths.Where(p => Matches(p.Pattern, segments)).ToList();
        if (matching.Count == 0) return (Outcome.NotExposed, null);
        var exact = matching.FirstOrDefault(p => string.Equals(p.Method, method, StringComparison.OrdinalIgnoreCase));
        return exact is null ? (Outcome.MethodNotAllowed, null) : (Outcome.Matched, exact);
    }

    public static bool IsCanonical(string path)
    {
        if (path.Length is < 2 or > 1024 || path[0] != '/') return false;
        foreach (var segment in path[1..].Split('/'))
        {
            if (segment.Length == 0 || segment is "." or "..") return false;
            foreach (var c in segment)
                if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~')) return false;
        }
        return true;
    }

    private static bool Matches(string pattern, string[] segments)
    {
        var parts = pattern.Trim('/').Split('/');
        if (parts.Length != segments.Length) return false;
        for (var i = 0; i < parts.Length; i++)
        {
            var isParameter = parts[i].StartsWith('{') && parts[i].EndsWith('}');
            if (!isParameter && !string.Equals(parts[i], segments[i], StringComparison.Ordinal)) return false;
        }
        return true;
    }
}
