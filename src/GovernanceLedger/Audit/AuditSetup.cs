using GovernanceLedger.Audit.Witness;
using GovernanceLedger.Security;
using GovernanceLedger.Security.KeyCustody;

namespace GovernanceLedger.Audit;

public static class AuditSetup
{
    public const string AuditorPolicy = "auditor";

    public static WebApplicationBuilder AddAudit(this WebApplicationBuilder builder)
    {
        var settings = builder.Configuration.GetSection("Audit").Get<AuditSettings>() ?? new AuditSettings();
        if (string.IsNullOrWhiteSpace(settings.WitnessDirectory))
        {
            if (!builder.Environment.IsDevelopment())
                throw new InvalidOperationException(
                    "Audit:WitnessDirectory is not set: signed checkpoints must also go to a witness outside the database (Audit__WitnessDirectory).");
            settings.WitnessDirectory = KeyCustodySetup.DevelopmentDirectory("witness", builder.Configuration.GetConnectionString("Ledger"));
        }
        if (settings.ChainPace < TimeSpan.Zero || settings.ChainPace > TimeSpan.FromSeconds(10))
            throw new InvalidOperationException($"Audit:ChainPace is {settings.ChainPace}: it must be from 0 to 10 seconds (the chain, proofs and the audit stream trail the ledger by up to that much).");
        if (settings.MaxPageChars < 1)
            throw new InvalidOperationException($"Audit:MaxPageChars is {settings.MaxPageChars}: it must be at least 1 (a page always holds one event).");
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<IChainWitness>(new DirectoryWitness(settings.WitnessDirectory));
        builder.Services.AddSingleton<LedgerChainer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LedgerChainer>());
        builder.Services.AddSingleton<LedgerVerifier>();
        builder.Services.AddSingleton<Verifying.EventColumns>();
        builder.Services.AddSingleton<Verifying.ReadModelCheck>();
        builder.Services.AddSingleton<VerifyJobs>();
        builder.Services.AddSingleton<GovernanceLedger.Audit.Verifying.WitnessChecks>();
        builder.Services.AddSingleton<AuditQueries>();
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AuditorPolicy, p => p.RequireRole(Role.Auditor, Role.SecurityReviewer, Role.PlatformAdmin));
        return builder;
    }
}
