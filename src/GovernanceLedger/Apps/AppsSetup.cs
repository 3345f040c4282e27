using GovernanceLedger.Apps.Registering;
using GovernanceLedger.Apps.Templates;

namespace GovernanceLedger.Apps;

public static class AppsSetup
{
    public static WebApplicationBuilder AddApps(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ManifestReader>();
        builder.Services.AddSingleton<TemplateCatalog>();
        builder.Services.AddScoped<Registrar>();
        return builder;
    }
}
