using GovernanceLedger.Security;

namespace GovernanceLedger.Audit;

public static class AuditSetup
{
    public const string AuditorPolicy = "auditor";

    public static WebApplicationBuilder AddAudit(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<LedgerChainer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LedgerChainer>());
        builder.Services.AddSingleton<LedgerVerifier>();
        builder.Services.AddSingleton<AuditQueries>();
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AuditorPolicy, p => p.RequireRole(Role.Auditor, Role.SecurityReviewer, Role.PlatformAdmin));
        return builder;
    }
}
