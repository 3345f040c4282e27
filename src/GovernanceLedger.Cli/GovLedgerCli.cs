using GovernanceLedger.Cli.Commands;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GovernanceLedger.Cli;

/// <summary>The govledger command line: every command, and how it is run (by Program, or by tests with their own client).</summary>
public static class GovLedgerCli
{
    public static Task<int> RunAsync(string[] args, CliSession session, CancellationToken ct = default)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("govledger");
            config.Settings.Console = session.Console;
            config.Settings.ExceptionHandler = (e, _) =>
            {
                session.Console.WriteLine(e is CommandParseException or CommandRuntimeException ? e.Message : $"Unexpected failure: {e.Message}");
                return ExitCodes.Usage;
            };
            config.AddCommand<LoginCommand>("login").WithData(session).WithDescription("Sign in: the development issuer, --device with your identity provider, or --token.");
            config.AddCommand<TemplatesCommand>("templates").WithData(session).WithDescription("List the templates init can start from.");
            config.AddCommand<InitCommand>("init").WithData(session).WithDescription("Scaffold a micro app folder from a template.")
                .WithExample("init", "sales-lookup");
            config.AddCommand<DatasetsCommand>("datasets").WithData(session).WithDescription("List the curated datasets, their fields and PII.");
            config.AddCommand<ValidateCommand>("validate").WithData(session).WithDescription("Dry-run a manifest against the schema and every policy.");
            config.AddCommand<RegisterCommand>("register").WithData(session).WithDescription("Register the manifest (or --resubmit a changed one).");
            config.AddBranch("apps", apps =>
            {
                apps.SetDescription("Look at and act on apps.");
                apps.AddCommand<AppsListCommand>("list").WithData(session).WithDescription("The apps you may see.");
                apps.AddCommand<AppsShowCommand>("show").WithData(session).WithDescription("One app.");
                foreach (var decision in new[] { "approve", "reject" })
                    apps.AddCommand<AppsDecideCommand>(decision).WithData(session).WithDescription($"{decision} an app waiting for review (reviewers).");
                foreach (var action in new[] { "pause", "resume", "renew", "retire" })
                    apps.AddCommand<AppsLifecycleCommand>(action).WithData(session).WithDescription($"{action} an app, with --reason.");
            });
            config.AddCommand<TokenCommand>("token").WithData(session).WithDescription("Issue a short-lived app token for you as the app's end user.");
            config.AddCommand<QueryCommand>("query").WithData(session).WithDescription("Read a dataset through the data proxy as an app.")
                .WithExample("query", "customers", "--app", "my-app", "--fields", "customer_id,name");
            config.AddBranch("audit", audit =>
            {
                audit.SetDescription("The audit trail.");
                audit.AddCommand<AuditTimelineCommand>("timeline").WithData(session).WithDescription("An app's lifecycle events.");
                audit.AddCommand<AuditVerifyCommand>("verify").WithData(session).WithDescription("Verify the hash chain and the witness (auditors).");
                audit.AddCommand<AuditExportCommand>("export").WithData(session).WithDescription("Export the hash chain for offline checking (auditors).");
            });
            config.AddCommand<ChargebackCommand>("chargeback").WithData(session).WithDescription("Cost per app, owner or cost centre for a month.");
            config.AddCommand<RebuildCommand>("rebuild").WithData(session).WithDescription("Rebuild every read model from the ledger (admins).");
        });
        return app.RunAsync(args, ct);
    }
}
