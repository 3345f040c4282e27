using GovernanceLedger.Apps.Registering;
using GovernanceLedger.Apps.Templates;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;
using Marten;
using Npgsql;
using Wolverine;

namespace GovernanceLedger.Demo;

/// <summary>
/// Development only: creates the demo source database salesdb (with the product's row-level
/// security example) and registers a few demo apps through the real registration path.
/// </summary>
public sealed class DemoSeeder(
    IServiceProvider services, IConfiguration configuration, PolicyPublisher policiesLoaded, ILogger<DemoSeeder> logger) : IHostedService
{
    private static readonly Caller Platform = new("demo-seeder@example.com", "demo-seeder@example.com",
        new HashSet<string> { Role.PlatformAdmin }, IsAgent: false);

    public async Task StartAsync(CancellationToken ct)
    {
        _ = policiesLoaded; // registered first, so policies are in force before demo apps are decided
        if (configuration.GetConnectionString("SalesDb") is { Length: > 0 } sales)
            await SeedSalesDbAsync(sales, ct);
        await SeedAppsAsync(ct);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    private async Task SeedSalesDbAsync(string connectionString, CancellationToken ct)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        await using (var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false }.ConnectionString))
        {
            await admin.OpenAsync(ct);
            await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = @n", admin);
            exists.Parameters.AddWithValue("n", target.Database!);
            if (await exists.ExecuteScalarAsync(ct) is not null) return;
            await using var create = new NpgsqlCommand($"create database \"{target.Database}\"", admin);
            await create.ExecuteNonQueryAsync(ct);
        }

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var seed = new NpgsqlCommand(SalesDbSql, connection);
        await seed.ExecuteNonQueryAsync(ct);
        logger.LogInformation("Created demo database {Database} with sales_data (row-level security by region) and customers", target.Database);
    }

    private async Task SeedAppsAsync(CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var session = scope.ServiceProvider.GetRequiredService<IDocumentSession>();
        if (await session.Events.FetchStreamStateAsync("internal-sales-quickview", ct) is not null) return;

        var registrar = scope.ServiceProvider.GetRequiredService<Registrar>();
        var reader = scope.ServiceProvider.GetRequiredService<ManifestReader>();
        var templates = scope.ServiceProvider.GetRequiredService<TemplateCatalog>();
        var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();

        var manifests = new[]
        {
            System.Text.Json.Nodes.JsonNode.Parse("""{"app_id":"internal-sales-quickview","owner":"sales_ops@example.com","scopes":["read:contacts","read:sales_metrics"],"connectors":["postgres:salesdb","bigquery:analytics"],"data_retention_days":30}""")!.AsObject(),
            TemplateCatalog.Merge(templates.Find("survey-form")!, System.Text.Json.Nodes.JsonNode.Parse("""{"app_id":"marketing-quick-survey","owner":"marketing@example.com","cost_center":"MKT-200"}""")!.AsObject()),
            TemplateCatalog.Merge(templates.Find("sales-lookup")!, System.Text.Json.Nodes.JsonNode.Parse("""{"app_id":"emea-customer-lookup","owner":"sales_ops@example.com","cost_center":"SALES-EMEA"}""")!.AsObject()),
            System.Text.Json.Nodes.JsonNode.Parse("""{"app_id":"agent-churn-dashboard","owner":"product@example.com","generated_by":"agent","scopes":["read:customers","read:pii"],"connectors":["postgres:salesdb"],"datasets":[{"name":"customers","fields":["customer_id","email","region"]}]}""")!.AsObject()
        };
        foreach (var json in manifests)
        {
            var (manifest, problem) = reader.Validate(json);
            if (problem is not null)
                throw new InvalidOperationException($"Demo manifest is invalid: {problem.Detail}");
            await registrar.RegisterAsync(manifest!, Platform, session, bus, ct);
        }
        await session.SaveChangesAsync(ct);
        logger.LogInformation("Registered {Count} demo apps", manifests.Length);
    }

    private const string SalesDbSql = """
        create table customers (
            customer_id int primary key, name text not null, email text not null, phone text not null,
            region text not null, segment text not null);
        create table sales_data (
            order_id int primary key, customer_id int not null references customers, region text not null,
            product text not null, amount numeric(12,2) not null, ordered_at timestamptz not null);
        create table interactions (
            interaction_id bigserial primary key, customer_id int not null references customers,
            channel text not null, note text not null, created_at timestamptz not null default now());

        insert into customers
        select i, 'Customer ' || i, 'customer' || i || '@example.com', '+44 20 7946 ' || lpad(i::text, 4, '0'),
               (array['EMEA','NA','APAC'])[1 + i % 3], (array['smb','mid','enterprise'])[1 + i % 3]
        from generate_series(1, 300) i;
        insert into sales_data
        select i, 1 + i % 300, (array['EMEA','NA','APAC'])[1 + (i % 300) % 3], (array['widget','gadget','service'])[1 + i % 3],
               round((50 + (i * 37) % 5000)::numeric, 2), timestamptz '2026-01-01' + (i || ' hours')::interval
        from generate_series(1, 3000) i;

        -- The product's example row-level security: a query sees only the region the proxy set.
        alter table sales_data enable row level security;
        alter table sales_data force row level security;
        create policy sales_region_policy on sales_data using (region = current_setting('app.region', true));
        """;
}

public static class DemoSetup
{
    public static WebApplicationBuilder AddDemo(this WebApplicationBuilder builder)
    {
        if (builder.Environment.IsDevelopment() && builder.Configuration.GetValue("Demo:Seed", false))
            builder.Services.AddHostedService<DemoSeeder>();
        return builder;
    }
}
