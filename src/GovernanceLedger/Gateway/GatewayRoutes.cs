namespace GovernanceLedger.Gateway;

/// <summary>One upstream API behind /gw/{name}/..., bound from "Gateway:Routes".</summary>
public sealed class GatewayRoute
{
    public string Name { get; init; } = "";
    public string Upstream { get; init; } = "";
    /// <summary>Scopes required per HTTP method; a method not listed is refused with 405.</summary>
    public Dictionary<string, List<string>> Scopes { get; init; } = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>Optional JSON Schema (under schemas/) that request bodies must satisfy.</summary>
    public string? BodySchema { get; init; }
}

public sealed class GatewayOptions
{
    public List<GatewayRoute> Routes { get; init; } = [];
    public int MaxBodyBytes { get; init; } = 256 * 1024;
    /// <summary>When set (Development), a demo CRM and survey API is started here for the demo routes.</summary>
    public string? DemoUpstreamUrl { get; init; }
}
