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
            .Validate(o => o.Routes.All(r => r.ResponseHeaders.All(UpstreamHeaders.MayBeListedByRoute)),
                "Gateway:Routes:N:ResponseHeaders lists an application's own \"X-\" response headers only (such as X-Total-Count), and none of "
                + "the gateway's own (X-Request-Id, X-App-Id, X-Sandbox, X-PII-*, X-End-User*, X-Forwarded-*) or those naming the upstream's software.")
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

    /// <summary>
    /// /gw/{route}/{**rest} goes from here straight to the gateway: the gateway's requests pass no router and none of the
    /// control plane's middleware (console headers, static files, strict JSON, people's authentication), which they
    /// never used, on the data plane's hot path. Placed inside the exception handler, the status-code pages and the data
    /// plane's records, so every gateway request is still recorded and answered as before.
    /// </summary>
    public static IApplicationBuilder UseGateway(this IApplicationBuilder app)
    {
        var gateway = app.ApplicationServices.GetRequiredService<GatewayProxy>();
        return app.Use((context, next) =>
        {
            if (RouteOf(context.Request.Path) is not { } route) return next(context);
            // Measured by the gateway's own api_gateway_request_duration, per app, route and status: not a second time in
            // the server's http_server_request_duration.
            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMetricsTagsFeature>() is { } metrics) metrics.MetricsDisabled = true;
            return gateway.HandleAsync(context, route);
        });
    }

    /// <summary>
    /// The {route} of /gw/{route} and /gw/{route}/..., "gw" in any case as routing matches a literal; null for any other
    /// path, an empty route among them (/gw, /gw/, /gw//x), which the data plane records as a path that does not exist.
    /// </summary>
    public static string? RouteOf(PathString path)
    {
        var value = path.Value;
        if (value is null || value.Length < 5 || !value.StartsWith("/gw/", StringComparison.OrdinalIgnoreCase)) return null;
        var end = value.IndexOf('/', 4);
        return end == 4 ? null : end < 0 ? value[4..] : value[4..end];
    }
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
