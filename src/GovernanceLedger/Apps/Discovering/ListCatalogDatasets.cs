using GovernanceLedger.Apps.Templates;
using GovernanceLedger.Gateway;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Wolverine.Http;

namespace GovernanceLedger.Apps.Discovering;

public sealed record CatalogField(string Name, bool Pii, string? Masking);

/// <summary>How an app reaches a dataset: the data proxy's query endpoint, or a gateway route's paths with their scopes.</summary>
public sealed record CatalogAccess(string Via, string Path, string Method, IReadOnlyList<string> Scopes);

public sealed record CatalogDataset(
    string Name, string Connector, bool Production, IReadOnlyList<CatalogField> Fields, IReadOnlyList<string> ConnectorScopes,
    string? RowLevelSecurity, IReadOnlyList<CatalogAccess> Access, IReadOnlyList<string> Templates, string PiiScope);

/// <summary>
/// GET /catalog/datasets: what a builder may ask for before registering anything. Every curated dataset with its
/// fields (PII tagged, with how each is masked without the PII scope), the scopes its connector offers, how apps
/// reach it, row-level security, and the templates that use it. Any signed-in person may look.
/// </summary>
public static class ListCatalogDatasets
{
    [WolverineGet("/catalog/datasets", OperationId = "listCatalogDatasets"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Discovery")]
    public static IResult Get(IOptionsMonitor<DataCatalog> catalog, IOptionsMonitor<GatewayOptions> gateway, TemplateCatalog templates)
    {
        var current = catalog.CurrentValue;
        var datasets = current.DatasetList.OrderBy(d => d.Name, StringComparer.Ordinal).Select(d => new CatalogDataset(
            d.Name, d.Connector, d.Production,
            d.Fields.Select(f => new CatalogField(f, d.Pii.Contains(f), d.Pii.Contains(f) ? d.MaskingFor(f) : null)).ToList(),
            current.Connectors.TryGetValue(d.Connector, out var connector) ? connector.Scopes : [],
            d.RlsKey is null ? null : $"rows are limited to the end user's {d.RlsKey}, from their token; a token without one sees no rows",
            Access(d, gateway.CurrentValue),
            templates.Templates.Where(t => t.Defaults["datasets"] is System.Text.Json.Nodes.JsonArray used
                && used.Any(u => u?["name"]?.GetValue<string>() == d.Name)).Select(t => t.Id).ToList(),
            current.PiiScope)).ToList();
        return Results.Json(new { datasets, pii_scope = current.PiiScope }, LedgerSetup.ApiJson);
    }

    private static List<CatalogAccess> Access(DatasetEntry dataset, GatewayOptions gateway)
    {
        var access = new List<CatalogAccess>();
        if (dataset.ServedByProxy)
            access.Add(new CatalogAccess("data-proxy", $"/data/{dataset.Name}/query", "POST", [dataset.RequiredScope]));
        foreach (var route in gateway.Routes.Where(r => r.Dataset == dataset.Name))
            access.AddRange(route.Paths.Select(p => new CatalogAccess("gateway", $"/gw/{route.Name}{p.Pattern}", p.Method, p.Scopes)));
        return access;
    }
}
