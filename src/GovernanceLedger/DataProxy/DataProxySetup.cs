using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
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
        builder.Services.AddHostedService<CredentialSweeper>();
        builder.Services.AddSingleton<QueryDataset>();
        builder.Services.AddSingleton(sp =>
        {
            var configured = sp.GetRequiredService<IOptions<DataProxyOptions>>().Value.MaskingSalt;
            if (configured.Length > 0) return new Masking(Encoding.UTF8.GetBytes(configured));
            // Without a configured salt, hashes are stable only for this process's lifetime.
            sp.GetRequiredService<ILogger<Masking>>().LogWarning("DataProxy:MaskingSalt is not set; PII hashes will change on restart");
            return new Masking(RandomNumberGenerator.GetBytes(32));
        });
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
            var piiScope = catalog.CurrentValue.PiiScope;
            var unmasked = caller.Scopes.Contains(piiScope) && caller.App.Scopes.Contains(piiScope);
            var datasets = catalog.CurrentValue.DatasetList
                .Where(d => d.Source.Length > 0 && caller.App.Datasets.Any(g => g.Name == d.Name) && caller.Scopes.Contains(d.RequiredScope))
                .Select(d =>
                {
                    var fields = caller.App.Datasets.First(g => g.Name == d.Name).Fields.Where(d.Fields.Contains).ToList();
                    return new
                    {
                        name = d.Name,
                        fields,
                        masked_fields = unmasked ? [] : fields.Where(d.Pii.Contains).Select(f => new { field = f, masking = d.Masking.GetValueOrDefault(f, "hash") }).ToList(),
                        row_level_security = d.RlsKey,
                        required_scope = d.RequiredScope
                    };
                }).ToList();
            await recorder.AllowedAsync(context, QueryDataset.Plane, "data", caller, 200, 0, start, "listed datasets");
            return Results.Ok(new { app_id = caller.AppId, datasets });
        }).AllowAnonymous().WithTags("Data proxy").WithName("listDatasets");
    }
}
