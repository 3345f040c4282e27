using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using Marten;
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
        builder.Services.AddSingleton<SandboxData>();
        builder.Services.AddSingleton<Revealing.RevealGate>();
        // The end users' record that reveal decisions read, folded on the async daemon.
        builder.Services.ConfigureMarten(options =>
            options.Projections.Add(new Revealing.EndUserActivityProjection(), JasperFx.Events.Projections.ProjectionLifecycle.Async));
        return builder;
    }

    public static void MapDataProxy(this WebApplication app)
    {
        app.MapPost("/data/{dataset}/query", (HttpContext context, string dataset, QueryDataset proxy) => proxy.HandleAsync(context, dataset))
            .AllowAnonymous().WithTags("Data proxy").WithName("queryDataset")
            .WithSummary("Query a curated dataset with an app token: {fields, filter: [{field, op, value}], order_by, limit}.");

        app.MapGet("/data", ListDatasets.HandleAsync).AllowAnonymous().WithTags("Data proxy").WithName("listDatasets");
    }
}
