namespace GovernanceLedger.Policies;

public static class PolicySetup
{
    public static WebApplicationBuilder AddPolicies(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<DataCatalog>(builder.Configuration.GetSection("Catalog"));
        builder.Services.AddSingleton<PolicyEngine>();
        builder.Services.AddSingleton<PolicyPublisher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PolicyPublisher>());
        return builder;
    }
}
