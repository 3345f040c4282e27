using GovernanceLedger.Security.KeyCustody;
using Marten;
using Microsoft.Extensions.Options;

namespace GovernanceLedger.Warehouse;

public static class WarehouseSetup
{
    /// <summary>
    /// Catalog datasets the warehouse serves that are exported from a row-scoped dataset (one with an RlsKey) and say neither
    /// which column scopes their rows nor why none does: the restriction on the source would silently stop at the export.
    /// </summary>
    public static IReadOnlyList<string> RowScopeGaps(GovernanceLedger.Policies.DataCatalog catalog, WarehouseOptions warehouse) =>
        warehouse.Exports
            .Where(e => catalog.Datasets.TryGetValue(e.Dataset, out var source) && source.RlsKey is { Length: > 0 })
            .SelectMany(e => catalog.DatasetList.Where(d => WarehouseReads.Serves(d) && WarehouseReads.TableOf(d) == e.Target
                    && d.RlsKey is not { Length: > 0 } && d.RowScopeExemption is not { Length: > 0 })
                .Select(d => $"Catalog dataset '{d.Name}' is exported from '{e.Dataset}', whose rows are scoped by {catalog.Datasets[e.Dataset].RlsKey}: " +
                    $"give it an RlsKey (the column its rows are scoped by) or a RowScopeExemption (why every row may be read)."))
            .Distinct().ToList();

    public static WebApplicationBuilder AddWarehouse(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<WarehouseOptions>(builder.Configuration.GetSection("Warehouse"));
        builder.Services.PostConfigure<WarehouseOptions>(o =>
        {
            // Development keeps one warehouse file per ledger database (as it does keys), so ledgers never share one.
            if (o.Path.Length == 0)
                o.Path = builder.Environment.IsDevelopment()
                    ? Path.Combine(KeyCustodySetup.DevelopmentDirectory("warehouse", builder.Configuration.GetConnectionString("Ledger")), "warehouse.duckdb")
                    : Path.Combine(builder.Environment.ContentRootPath, "data", "warehouse.duckdb");
        });
        builder.Services.AddSingleton<IWarehouse, DuckDbWarehouse>();
        builder.Services.AddSingleton<WarehouseExporter>();
        builder.Services.AddSingleton<WarehouseReads>();
        builder.Services.AddSingleton<AppQueries>();
        builder.Services.AddSingleton<LineageNames>();
        builder.Services.AddHostedService<ExportScheduler>();
        builder.Services.AddHttpClient(nameof(OpenLineageRelay), c => c.Timeout = TimeSpan.FromSeconds(10));
        builder.Services.AddSingleton<IConfigureMarten, LineageSubscription>();
        return builder;
    }

    public static void MapWarehouse(this WebApplication app)
    {
        if (RowScopeGaps(app.Services.GetRequiredService<IOptionsMonitor<GovernanceLedger.Policies.DataCatalog>>().CurrentValue,
                app.Services.GetRequiredService<IOptions<WarehouseOptions>>().Value) is { Count: > 0 } gaps)
            throw new InvalidOperationException(string.Join(" ", gaps));
        app.MapGet("/data/queries", (HttpContext context, AppQueries queries) => queries.ListAsync(context))
            .AllowAnonymous().WithTags("Data proxy").WithName("listQueries")
            .WithSummary("The pre-approved query templates this app may run, with their typed parameters.");
        app.MapPost("/data/queries/{name}", (HttpContext context, string name, AppQueries queries) => queries.RunAsync(context, name))
            .AllowAnonymous().WithTags("Data proxy").WithName("runQuery")
            .WithSummary("Run a pre-approved query template by name: {parameters: {name: value}, limit}.");
    }

    /// <summary>Adds the OpenLineage relay to the async daemon, with the host's services.</summary>
    private sealed class LineageSubscription(IServiceProvider services) : IConfigureMarten
    {
        public void Configure(IServiceProvider provider, StoreOptions options) => options.Events.Subscribe(new OpenLineageRelay(services));
    }
}
