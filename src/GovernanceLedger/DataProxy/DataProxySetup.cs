using System.Diagnostics;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using Microsoft.Extensions.Options;

namespace GovernanceLedger.DataProxy;

public static class DataProxySetup
{
    public static WebApplicationBuilder AddDataProxy(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<DataProxyOptions>(builder.Configuration.GetSection("DataProxy"));
        builder.Services.AddSingleton<EphemeralCredentials>();
        builder.Services.AddSingleton<LoginReconciler>();
        builder.Services.AddHostedService<CredentialSweeper>();
        builder.Services.AddSingleton<QueryDataset>();
        return builder;
    }

    public static void MapDataProxy(this WebApplication app)
    {
        app.MapPost("/data/{dataset}/query", (HttpContext context, string dataset, QueryDataset proxy) => proxy.HandleAsync(context, dataset))
            .AllowAnonymous().WithTags("Data proxy").WithName("queryDataset")
            .WithSummary("Query a curated dataset with an app token: {fields, filter: [{field, op, value}], order_by, limit}.");

        app.MapGet("/data", async (HttpContext context, DataPlaneGuard guard, AccessRecorder recorder, IOptionsMonitor<DataCatalog> catalog) =>
        {
            var start = Stopwatch.GetTimestamp();
            var (caller, denial) = await guard.AdmitAsync(context, []);
            if (caller is null)
            {
                await recorder.DeniedAsync(context, QueryDataset.Plane, "data", denial!, start);
                return AccessRecorder.Refusal(denial!);
            }
            var unmasked = caller.MayReadPii(catalog.CurrentValue.PiiScope);
            var datasets = catalog.CurrentValue.DatasetList
                .Where(d => d.ServedByProxy && caller.App.Datasets.Any(g => g.Name == d.Name) && caller.Scopes.Contains(d.RequiredScope))
                .Select(d =>
                {
                    var fields = caller.App.Datasets.First(g => g.Name == d.Name).Fields.Where(d.Fields.Contains).ToList();
                    return new
                    {
                        name = d.Name,
                        fields,
                        masked_fields = unmasked ? [] : fields.Where(d.Pii.Contains).Select(f => new { field = f, masking = d.MaskingFor(f) }).ToList(),
                        row_level_security = d.RlsKey,
                        required_scope = d.RequiredScope
                    };
                }).ToList();
            await recorder.AllowedAsync(context, QueryDataset.Plane, "data", caller, 200, 0, start, "listed datasets");
            return Results.Ok(new { app_id = caller.AppId, datasets });
        }).AllowAnonymous().WithTags("Data proxy").WithName("listDatasets");
    }
}
