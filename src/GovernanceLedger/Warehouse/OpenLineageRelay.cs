using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Contracts.Warehouse;
using GovernanceLedger.Policies;
using JasperFx.Events;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using IChangeListener = Marten.IChangeListener;
using Marten;
using Marten.Subscriptions;
using Microsoft.Extensions.Options;

namespace GovernanceLedger.Warehouse;

/// <summary>
/// Posts the ledger's lineage to an OpenLineage endpoint (Marquez, DataHub) as it happens: export runs, CDC connectors
/// declared and retired, apps granted datasets and retired. A subscription on the async daemon: one host sends, in ledger
/// order, and its position moves only past events the endpoint accepted, so an endpoint that is down delays lineage
/// and loses none. Run ids are derived from the ledger's event ids, so a repeat after a crash is the same run.
/// </summary>
public sealed class OpenLineageRelay : SubscriptionBase
{
    private readonly IServiceProvider _services;

    public OpenLineageRelay(IServiceProvider services)
    {
        _services = services;
        Name = "open-lineage";
        IncludeType<WarehouseExportRan>();
        IncludeType<WarehouseExportFailed>();
        IncludeType<WarehouseExportRefused>();
        IncludeType<CdcConnectorDeclared>();
        IncludeType<CdcConnectorRetired>();
        IncludeType<AccessGranted>();
        IncludeType<AppRetired>();
    }

    public override async Task<IChangeListener> ProcessEventsAsync(EventRange page, ISubscriptionController controller, IDocumentOperations operations,
        CancellationToken ct)
    {
        var options = _services.GetRequiredService<IOptionsMonitor<WarehouseOptions>>().CurrentValue;
        if (options.OpenLineage.Url.Length == 0) return NullChangeListener.Instance;
        var builder = new OpenLineageEvents(_services.GetRequiredService<LineageNames>(), options.OpenLineage.Namespace);
        var catalog = _services.GetRequiredService<IOptionsMonitor<DataCatalog>>().CurrentValue;
        var client = _services.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(OpenLineageRelay));
        foreach (var e in page.Events)
        {
            var payload = For(builder, e, options, catalog, operations);
            if (payload is null) continue;
            using var request = new HttpRequestMessage(HttpMethod.Post, options.OpenLineage.Url)
            {
                Content = new StringContent(payload.ToJsonString(), Encoding.UTF8, "application/json")
            };
            if (options.OpenLineage.ApiKey.Length > 0) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.OpenLineage.ApiKey);
            using var response = await client.SendAsync(request, ct);
            // Anything but acceptance stops the page here: the daemon retries it, and the position stays before this event.
            response.EnsureSuccessStatusCode();
        }
        return NullChangeListener.Instance;
    }

    private static JsonObject? For(OpenLineageEvents builder, IEvent e, WarehouseOptions options, DataCatalog catalog, IDocumentOperations operations)
    {
        var datasets = catalog.DatasetList;
        return e.Data switch
        {
            WarehouseExportRan ran => builder.ExportRan(ran, options.Export(ran.Export),
                datasets.Where(d => d.Source == ran.Source || d.Name == ran.SourceDataset).ToList()),
            WarehouseExportFailed failed => builder.ExportStopped(failed.Export, failed.RunId, failed.At, failed.Reason, options.Export(failed.Export)),
            WarehouseExportRefused refused => builder.ExportStopped(refused.Export, refused.RunId, refused.At,
                "Refused before reading: " + string.Join(" ", refused.Findings), options.Export(refused.Export)),
            CdcConnectorDeclared declared => builder.CdcDeclared(declared, RunId($"cdc:{declared.ConnectorId}"),
                SourceOf(datasets, declared), datasets),
            CdcConnectorRetired retired => builder.CdcRetired(retired, RunId($"cdc:{retired.ConnectorId}")),
            AccessGranted granted => builder.AppGranted(granted, RunId($"app:{granted.AppId}"), catalog.Datasets),
            AppRetired retired => builder.AppRetired(retired, RunId($"app:{retired.AppId}")),
            _ => null
        };
    }

    /// <summary>The connection string name of a connector's source: the one its dataset's catalog entry reads.</summary>
    private static string SourceOf(IReadOnlyList<DatasetEntry> datasets, CdcConnectorDeclared declared) =>
        datasets.FirstOrDefault(d => d.Name == declared.Dataset && d.Source.Length > 0)?.Source
        ?? datasets.FirstOrDefault(d => declared.Tables.Any(t => t.Table == d.TableName) && d.Source.Length > 0)?.Source
        ?? declared.SourceDatabase;

    /// <summary>A long-lived job's run (a connector, an app) keeps one id from its start to its end.</summary>
    public static Guid RunId(string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);   // version 5 layout: a name-based id
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }
}
