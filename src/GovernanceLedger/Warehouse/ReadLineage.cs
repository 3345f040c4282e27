using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Projections.Streaming;
using GovernanceLedger.Projections.Warehouse;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Wolverine.Http;

namespace GovernanceLedger.Warehouse;

/// <summary>
/// GET /lineage?dataset= (people): where a dataset comes from and where it goes, from the ledger: the export that fills
/// it (for a warehouse dataset) with each column's source and hash, the exports that copy it to the warehouse, the CDC
/// connectors that publish it to topics, the query templates that read it, and the apps granted its fields, with the
/// catalog's PII tags throughout. The same names as the OpenLineage events, so both views line up.
/// </summary>
public static class ReadLineage
{
    private static readonly string[] Reading = ["active", "paused", "throttled", "pending_review"];

    /// <summary>An export's columns as its last run wrote them; before its first run, as its definition declares them.</summary>
    private static IEnumerable<object> Columns(ExportDefinition definition, WarehouseExportState? state) =>
        state?.LastRun is { } ran
            ? ran.Columns.Select(c => new { name = c.Name, type = (string?)c.Type, derived_from = c.DerivedFrom, transform = c.Transform })
            : SqlShape.Parse(definition.Sql).Shape?.Output.Select(o => new { name = o.Name, type = (string?)null, derived_from = o.DerivedFrom, transform = o.Transform })
              ?? Enumerable.Empty<object>();

    [WolverineGet("/lineage", OperationId = "readLineage"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Warehouse")]
    public static async Task<IResult> Get(string? dataset, System.Security.Claims.ClaimsPrincipal user, IQuerySession session, IOptionsMonitor<DataCatalog> catalog,
        IOptionsMonitor<WarehouseOptions> warehouseOptions, LineageNames names, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(dataset)) return Problem.Invalid("dataset", "required", "dataset names a catalog dataset.").ToResult();
        if (names.Find(dataset) is not { } entry)
            return Problem.NotFound($"No dataset named '{StrictJson.Bounded(dataset, 63)}' is in the catalog.").ToResult();
        var options = warehouseOptions.CurrentValue;
        var exports = new List<(ExportDefinition Definition, WarehouseExportState? State)>();
        foreach (var definition in options.Exports)
            exports.Add((definition, await session.LoadAsync<WarehouseExportState>(WarehouseExportState.StreamFor(definition.Name), ct)));
        var byTable = catalog.CurrentValue.DatasetList.Where(WarehouseReads.Serves).ToDictionary(WarehouseReads.TableOf, d => d.Name);

        var upstream = exports.Where(x => WarehouseReads.Serves(entry) && x.Definition.Target == WarehouseReads.TableOf(entry)).Select(x => new
        {
            kind = "export", export = x.Definition.Name, from_dataset = x.Definition.Dataset, source = x.Definition.Source,
            source_tables = x.State?.LastRun?.SourceTables.Select(t => names.Table(x.Definition.Source, t)).ToList(),
            definition_sha256 = x.Definition.Sha256(), last_run_at = x.State?.LastRun?.At, rows = x.State?.LastRun?.Rows,
            columns = Columns(x.Definition, x.State)
        }).ToList();

        var copies = exports.Where(x => x.Definition.Dataset == entry.Name).Select(x => new
        {
            export = x.Definition.Name, dataset = byTable.GetValueOrDefault(x.Definition.Target), warehouse = options.Connector,
            table = names.WarehouseTable(x.Definition.Target), definition_sha256 = x.Definition.Sha256(), every = x.Definition.Every?.ToString("c"),
            last_run_at = x.State?.LastRun?.At, rows = x.State?.LastRun?.Rows,
            columns = Columns(x.Definition, x.State)
        }).ToList();

        var connectors = await session.Query<CdcConnectorEntry>().Where(c => c.Active).ToListAsync(ct);
        var topics = connectors.Where(c => c.Declaration is { } d && (d.Dataset == entry.Name || d.Tables.Any(t => t.Table == entry.TableName)))
            .Select(c => new
            {
                topic = c.Declaration!.TargetTopic, connector = c.ConnectorId, name = names.Topic(c.Declaration.TargetTopic),
                columns = c.Declaration.Tables.Where(t => t.Table == entry.TableName || c.Declaration.Dataset == entry.Name).SelectMany(t => t.Columns).Distinct(),
                masked = c.Declaration.Tables.SelectMany(t => t.Masking.Keys).Distinct()
            }).ToList();

        // Apps are named to those who may see them (their owners; reviewers, auditors, finance, admins); others get the count.
        var caller = Caller.From(user);
        var reading = (await session.Query<AppCatalogEntry>().ToListAsync(ct))
            .Where(a => Reading.Contains(a.Status) && a.Datasets.Any(d => d.Name == entry.Name)).ToList();
        var apps = reading.Where(a => caller.MaySee(a.Owner))
            .OrderBy(a => a.Id)
            .Select(a =>
            {
                var fields = a.Datasets.First(d => d.Name == entry.Name).Fields;
                return new { app_id = a.Id, status = a.Status, owner = a.Owner, fields, pii_fields = fields.Where(entry.Pii.Contains) };
            }).ToList();

        var templates = (await session.Query<QueryTemplate>().ToListAsync(ct))
            .Where(t => t.InForce is { } v && v.Columns.ContainsKey(entry.Name))
            .Select(t => new { name = t.Name, version = t.InForce!.Version, columns = t.InForce.Columns[entry.Name] }).ToList();

        return Results.Json(new
        {
            dataset = new
            {
                name = entry.Name, connector = entry.Connector, lineage_name = names.Dataset(entry), production = entry.Production,
                fields = entry.Fields.Select(f => new { name = f, pii = entry.Pii.Contains(f), masking = entry.Pii.Contains(f) ? entry.MaskingFor(f) : null })
            },
            upstream,
            downstream = new { exports = copies, topics, query_templates = templates, apps, apps_not_shown = reading.Count - apps.Count },
            openlineage = new { @namespace = options.OpenLineage.Namespace, endpoint_configured = options.OpenLineage.Url.Length > 0 }
        }, LedgerSetup.ApiJson);
    }
}
