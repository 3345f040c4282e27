using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Gateway;

public static class GatewaySetup
{
    public static WebApplicationBuilder AddGateway(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<GatewayOptions>().Bind(builder.Configuration.GetSection("Gateway"))
            .Validate(o => o.MaxMaskedResponseBytes is > 0 and <= GatewayOptions.MaxMaskedResponseLimit,
                $"Gateway:MaxMaskedResponseBytes must be between 1 and {GatewayOptions.MaxMaskedResponseLimit} (a masked response is held whole in memory).")
            .ValidateOnStart();
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton<BodySchemas>();
        builder.Services.AddSingleton<GatewayProxy>();
        builder.Services.AddSingleton<Operations.Retention.RetentionStores>();
        builder.Services.AddHttpClient(Operations.Retention.RetentionStores.Client, c => c.Timeout = TimeSpan.FromSeconds(30));
        if (!string.IsNullOrWhiteSpace(builder.Configuration["Gateway:DemoUpstreamUrl"]))
            builder.Services.AddHostedService<DemoUpstreamHost>();
        return builder;
    }

    public static void MapGateway(this WebApplication app) =>
        app.Map("/gw/{route}/{**rest}", (HttpContext context, string route, GatewayProxy gateway) => gateway.HandleAsync(context, route))
            .AllowAnonymous()
            .WithTags("Gateway")
            .ExcludeFromDescription();
}

public static class DataPlaneSetup
{
    /// <summary>What both the gateway and the data proxy stand on: app tokens, the app directory, limits, the access ledger.</summary>
    public static WebApplicationBuilder AddDataPlane(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<AppDirectory>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AppDirectory>());
        builder.Services.AddSingleton<AccessLedger>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AccessLedger>());
        builder.Services.AddSingleton<AccessRecorder>();
        builder.Services.AddSingleton<UsageLimits>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<UsageLimits>());
        builder.Services.AddSingleton<DataPlaneGuard>();
        builder.Services.AddSingleton(sp =>
        {
            var configured = sp.GetRequiredService<IConfiguration>()["DataProxy:MaskingSalt"] ?? "";
            if (configured.Length > 0) return new Masking(System.Text.Encoding.UTF8.GetBytes(configured));
            // Without a configured salt, hashes are stable only for this process's lifetime.
            sp.GetRequiredService<ILogger<Masking>>().LogWarning("DataProxy:MaskingSalt is not set; PII hashes will change on restart");
            return new Masking(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        });
        return builder;
    }
}
