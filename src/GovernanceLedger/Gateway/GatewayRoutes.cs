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

    /// <summary>
    /// Response headers this route's upstream may pass beyond the gateway's own list (<see cref="UpstreamHeaders.PassedResponse"/>),
    /// such as a pagination count. The gateway's own, origin-wide and hop-by-hop headers cannot be listed.
    /// </summary>
    public List<string> ResponseHeaders { get; init; } = [];

    private System.Collections.Frozen.FrozenSet<string>? _passed;

    /// <summary>Whether an upstream response header of this name reaches the app.</summary>
    public bool PassesResponseHeader(string name) =>
        (_passed ??= System.Collections.Frozen.FrozenSet.ToFrozenSet(UpstreamHeaders.PassedResponse.Concat(ResponseHeaders), StringComparer.OrdinalIgnoreCase))
        .Contains(name);
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
    /// <summary>
    /// The longest upstream answer the gateway passes. Every answer with a body is read whole before its access event is
    /// committed (and masked on the way when its route carries PII), so the event names the bytes the app gets; a longer
    /// one is refused (502 response-too-large, recorded) rather than streamed past its record.
    /// </summary>
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
    /// are accepted (no '%', no segment that is '.' or '..', no empty segments, backslashes or ';'), so the path matched
    /// is byte for byte the path the upstream receives.
    /// </summary>
    public static (Outcome Outcome, ExposedPath? Path) Find(GatewayRoute route, string method, string path)
    {
        if (!IsCanonical(path)) return (Outcome.NotExposed, null);
        // The first exposed path of this shape that takes this method; a shape exposed for other methods only is a 405.
        var shapeExposed = false;
        foreach (var exposed in route.Paths)
        {
            if (!Matches(exposed.Pattern, path.AsSpan(1))) continue;
            if (string.Equals(exposed.Method, method, StringComparison.OrdinalIgnoreCase)) return (Outcome.Matched, exposed);
            shapeExposed = true;
        }
        return (shapeExposed ? Outcome.MethodNotAllowed : Outcome.NotExposed, null);
    }

    public static bool IsCanonical(string path)
    {
        if (path.Length is < 2 or > 1024 || path[0] != '/') return false;
        var rest = path.AsSpan(1);
        while (true)
        {
            var slash = rest.IndexOf('/');
            var segment = slash < 0 ? rest : rest[..slash];
            if (segment.Length == 0 || segment is "." or "..") return false;
            foreach (var c in segment)
                if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~')) return false;
            if (slash < 0) return true;
            rest = rest[(slash + 1)..];
        }
    }

    /// <summary>Whether a path's segments (after its leading '/') are the pattern's, segment for segment, a {parameter} matching any one.</summary>
    private static bool Matches(string pattern, ReadOnlySpan<char> segments)
    {
        var parts = pattern.AsSpan().Trim('/');
        while (true)
        {
            var partEnd = parts.IndexOf('/');
            var segmentEnd = segments.IndexOf('/');
            var part = partEnd < 0 ? parts : parts[..partEnd];
            var segment = segmentEnd < 0 ? segments : segments[..segmentEnd];
            var isParameter = part.Length > 1 && part[0] == '{' && part[^1] == '}';
            if (!isParameter && !part.SequenceEqual(segment)) return false;
            if (partEnd < 0 || segmentEnd < 0) return partEnd < 0 && segmentEnd < 0;
            parts = parts[(partEnd + 1)..];
            segments = segments[(segmentEnd + 1)..];
        }
    }
}
