using System.Text.Json;
using GovernanceLedger.Projections.Catalog;
using JasperFx;
using JasperFx.Events;
using JasperFx.Events.Projections;
using Marten;
using Npgsql;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace GovernanceLedger.Infrastructure;

/// <summary>The ledger itself: Marten's event store on PostgreSQL, and Wolverine for handlers, outbox and schedules.</summary>
public static class LedgerSetup
{
    public const string Schema = "ledger";

    public static readonly JsonSerializerOptions ApiJson = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null
    };

    public static WebApplicationBuilder AddLedger(this WebApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString("Ledger");
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                "ConnectionStrings:Ledger is not set. Run ./scripts/run.sh, or set ConnectionStrings__Ledger to an Npgsql connection string.");
        EnsureDatabaseExists(connectionString);

        builder.Services.AddMarten(opts =>
            {
                // Marten's sessions and its async daemon, named apart from the ledger's own pools in pg_stat_activity.
                opts.Connection(new NpgsqlConnectionStringBuilder(WithPreparedStatements(connectionString)) { ApplicationName = "ledger-store" }.ConnectionString);
                opts.DatabaseSchemaName = Schema;
                ConfigureEvents(opts);
                AddReadModels(opts, ProjectionLifecycle.Inline);
                // The write model commands decide on: folded from the app's stream on every fetch, never stored.
                opts.Projections.Add(new GovernanceLedger.Apps.AppWriteModel(), ProjectionLifecycle.Live);
                AddLedgerSchema(opts);
            })
            // Every table, function, trigger and index is in place before anything reads or appends.
            .ApplyAllDatabaseChangesOnStartup()
            .UseLightweightSessions()
            // Read models that follow the ledger rather than commit with it (detector baselines) run here;
            // one instance leads them at a time.
            .AddAsyncDaemon(JasperFx.Events.Daemon.DaemonMode.HotCold)
            .IntegrateWithWolverine();
        builder.Services.AddSingleton<IConfigureMarten, GovernanceLedger.Operations.Detecting.DetectingSetup>();
        builder.Services.Configure<GovernanceLedger.Operations.Notifying.NotificationOptions>(
            builder.Configuration.GetSection(GovernanceLedger.Operations.Notifying.NotificationOptions.Section));
        builder.Services.AddHttpClient("notifications", c => c.Timeout = TimeSpan.FromSeconds(10));
        builder.Services.Configure<GovernanceLedger.Operations.Archiving.ArchiveOptions>(
            builder.Configuration.GetSection(GovernanceLedger.Operations.Archiving.ArchiveOptions.Section));

        builder.Services.AddSingleton<LedgerDatabase>();
        // Started before the other services that append: a read model added by an upgrade is built first.
        builder.Services.AddHostedService<GovernanceLedger.Operations.ReadModelCatchUp>();
        builder.Host.UseWolverine(opts =>
        {
            // Handlers and endpoints live here, whichever process (tests, benchmarks) hosts the ledger.
            opts.ApplicationAssembly = typeof(LedgerSetup).Assembly;
            opts.Policies.AutoApplyTransactions();
            // Scheduled expiries must survive restarts, so local queues are backed by the outbox tables.
            opts.Policies.UseDurableLocalQueues();
        });
        builder.Services.AddWolverineHttp();
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = ApiJson.PropertyNamingPolicy;
            o.SerializerOptions.DictionaryKeyPolicy = null;
            o.SerializerOptions.AllowDuplicateProperties = false;
            // "3600" is not a number: bodies say what they mean.
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        return builder;
    }

    /// <summary>
    /// The ledger's hot statements (the data plane's group commit, usage reads, the daemon's and the chain's event
    /// reads) are the same text thousands of times a second: Npgsql prepares them after a few uses, so PostgreSQL
    /// stops parsing and planning each one. A connection string that sets Max Auto Prepare itself is left alone.
    /// </summary>
    public static string WithPreparedStatements(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (builder.MaxAutoPrepare == 0) builder.MaxAutoPrepare = 64;
        return builder.ConnectionString;
    }

    /// <summary>How events are stored: shared by the live store and the one a rebuild builds new read models with.</summary>
    public static void ConfigureEvents(StoreOptions opts)
    {
        opts.Events.DatabaseSchemaName = Schema;
        opts.Events.StreamIdentity = StreamIdentity.AsString;
        // Quick appends skip Marten's per-event version bookkeeping round trips; stream versions and
        // the (stream, version) key still refuse a concurrent append at the same version.
        opts.Events.AppendMode = EventAppendMode.Quick;
        opts.Events.MetadataConfig.CorrelationIdEnabled = true;
        opts.Events.MetadataConfig.CausationIdEnabled = true;
    }

    /// <summary>
    /// Every read model people read, derived only from events. Live they are inline (current the moment
    /// their events commit); a rebuild registers the same projections as async ones in a store of its own.
    /// </summary>
    public static void AddReadModels(StoreOptions opts, ProjectionLifecycle lifecycle)
    {
        opts.Projections.Add(new AppCatalogProjection { Name = ReadModelNames.Catalog }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Chargeback.UsageDayProjection { Name = ReadModelNames.Usage }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Streaming.TopicProjection { Name = ReadModelNames.Topics }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Streaming.TopicGrantProjection { Name = ReadModelNames.TopicGrants }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Registry.RegistrySubjectProjection { Name = ReadModelNames.RegistrySubjects }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Registry.RegisteredSchemaProjection { Name = ReadModelNames.RegistrySchemas }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Registry.RegistrySettingsProjection { Name = ReadModelNames.RegistrySettings }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Policies.PolicyProjection { Name = ReadModelNames.Policies }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Streaming.CdcConnectorProjection { Name = ReadModelNames.CdcConnectors }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Chargeback.BudgetProjection { Name = ReadModelNames.Budgets }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.SupplyChain.AdvisoryDatabaseProjection { Name = ReadModelNames.Advisories }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Warehouse.WarehouseExportProjection { Name = ReadModelNames.WarehouseExports }, lifecycle);
        opts.Projections.Add(new GovernanceLedger.Projections.Warehouse.QueryTemplateProjection { Name = ReadModelNames.QueryTemplates }, lifecycle);
        opts.Schema.For<AppCatalogEntry>().Index(x => x.Owner).Index(x => x.Status);
        opts.Schema.For<GovernanceLedger.Projections.Registry.RegisteredSchema>().Index(x => x.Fingerprint);
    }

    /// <summary>A table, function or trigger name in a schema, quoted only where PostgreSQL needs it.</summary>
    public static Weasel.Postgresql.PostgresqlObjectName ObjectName(string schema, string name) =>
        new(schema, name, Weasel.Postgresql.SchemaUtils.IdentifierUsage.General);

    /// <summary>The ledger's own schema objects beside Marten's: the chain, its append-only triggers, relay and CDC positions.</summary>
    private static void AddLedgerSchema(StoreOptions opts)
    {
        opts.Events.EnableEventTypeIndex = true;
        foreach (var index in GovernanceLedger.Audit.ChainSchema.IndexesOnMartenTables) opts.Events.IgnoreIndex(index);
        opts.Storage.Add(new GovernanceLedger.Audit.ChainSchema.Feature(opts));
        opts.Storage.ExtendedSchemaObjects.Add(GovernanceLedger.Streaming.AuditStream.AuditRelay.PositionsTable());
        opts.Storage.ExtendedSchemaObjects.Add(GovernanceLedger.Streaming.Cdc.CdcConnectorWorker.PositionsTable());
        opts.Storage.ExtendedSchemaObjects.AddRange(GovernanceLedger.DataPlane.UsageLimits.Objects());
        opts.Storage.ExtendedSchemaObjects.Add(GovernanceLedger.DataPlane.AccessLedger.DrainedTable());
    }

    /// <summary>Creates the ledger database on first run; the script-started server has only "postgres".</summary>
    private static void EnsureDatabaseExists(string connectionString)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(target.Database)) return;
        var maintenance = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false };
        using var connection = new NpgsqlConnection(maintenance.ConnectionString);
        connection.Open();
        using var exists = new NpgsqlCommand("select 1 from pg_database where datname = @name", connection);
        exists.Parameters.AddWithValue("name", target.Database);
        if (exists.ExecuteScalar() is null)
        {
            using var create = new NpgsqlCommand($"create database \"{target.Database.Replace("\"", "\"\"")}\"", connection);
            try
            {
                create.ExecuteNonQuery();
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
                // Another process created it between the check and the create: that is what we wanted.
            }
        }
        // Only the ledger's own role connects to the ledger: a login minted for an app on the same server
        // (PUBLIC may connect by default) gets no session there at all.
        var database = $"\"{target.Database.Replace("\"", "\"\"")}\"";
        using var restrict = new NpgsqlCommand($"grant connect, temporary on database {database} to current_user; revoke connect, temporary on database {database} from public", connection);
        try
        {
            restrict.ExecuteNonQuery();
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            // Not the owner: whoever administers the server decides who connects.
        }
    }
}

/// <summary>The read models' projection names, as their progress rows and rebuilds know them.</summary>
public static class ReadModelNames
{
    public const string Catalog = "app-catalog";
    public const string Budgets = "budgets";
    public const string Usage = "usage-per-app-per-day";
    public const string Topics = "topics";
    public const string TopicGrants = "topic-grants";
    public const string RegistrySubjects = "registry-subjects";
    public const string RegistrySchemas = "registry-schemas";
    public const string RegistrySettings = "registry-settings";
    public const string Policies = "policies";
    public const string CdcConnectors = "cdc-connectors";
    public const string Advisories = "advisories";
    public const string WarehouseExports = "warehouse-exports";
    public const string QueryTemplates = "query-templates";
}
