using GovernanceLedger.Apps.Registering;
using GovernanceLedger.Apps.Templates;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;
using Marten;
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
        new HashSet<string> { Role.PlatformAdmin }, IsAgent: false, Groups: new HashSet<string>());

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
        if (await SalesDemoDatabase.EnsureAsync(connectionString, ct))
            logger.LogInformation("Created demo database salesdb: customers and sales_data under region row-level security");
    }

    private async Task SeedAppsAsync(CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var session = scope.ServiceProvider.GetRequiredService<IDocumentSession>();
        // The sample advisory snapshot, so the supply-chain checks have something to match from the first registration.
        var sample = Path.Combine(AppContext.BaseDirectory, "osv", "sample-snapshot.json");
        if (File.Exists(sample) && await session.LoadAsync<Projections.SupplyChain.AdvisoryDatabase>(Projections.SupplyChain.AdvisoryDatabase.StreamId, ct) is null)
        {
            var snapshot = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(sample, ct))!.AsObject();
            var imported = SupplyChain.ImportAdvisories.Decide(null, snapshot["source"]!.GetValue<string>(), snapshot["advisories"]!.AsArray(), Platform,
                TimeProvider.System.GetUtcNow());
            if (imported.Problem is { } problem) throw new InvalidOperationException($"The sample advisory snapshot is invalid: {problem.Detail}");
            session.Events.StartStream(Projections.SupplyChain.AdvisoryDatabase.StreamId, imported.Events.ToArray());
            await session.SaveChangesAsync(ct);
            logger.LogInformation("Imported the sample advisory snapshot ({Count} advisories)", ((Contracts.SupplyChain.AdvisoriesImported)imported.Events[0]).Advisories.Count);
        }
        if (await session.Events.FetchStreamStateAsync("internal-sales-quickview", ct) is not null) return;


        var registrar = scope.ServiceProvider.GetRequiredService<Registrar>();
        var reader = scope.ServiceProvider.GetRequiredService<ManifestReader>();
        var templates = scope.ServiceProvider.GetRequiredService<TemplateCatalog>();
        var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();

        var manifests = new[]
        {
            System.Text.Json.Nodes.JsonNode.Parse("""{"app_id":"internal-sales-quickview","owner":"sales_ops@example.com","scopes":["read:contacts","read:sales_metrics"],"connectors":["postgres:salesdb","bigquery:analytics"],"data_retention_days":30,"audience":{"groups":["sales"]}}""")!.AsObject(),
            TemplateCatalog.Merge(templates.Find("survey-form")!, System.Text.Json.Nodes.JsonNode.Parse("""{"app_id":"marketing-quick-survey","owner":"marketing@example.com","cost_center":"MKT-200"}""")!.AsObject()),
            TemplateCatalog.Merge(templates.Find("sales-lookup")!, System.Text.Json.Nodes.JsonNode.Parse("""{"app_id":"emea-customer-lookup","owner":"sales_ops@example.com","cost_center":"SALES-EMEA","audience":{"groups":["sales-emea"]}}""")!.AsObject()),
            System.Text.Json.Nodes.JsonNode.Parse("""{"app_id":"agent-churn-dashboard","owner":"product@example.com","generated_by":"agent","purpose":"A churn dashboard for the product team: which customers stopped buying, by region, to plan follow-up calls","scopes":["read:customers","read:pii"],"connectors":["postgres:salesdb"],"datasets":[{"name":"customers","fields":["customer_id","email","region"]}]}""")!.AsObject()
        };
        foreach (var json in manifests)
        {
            var (manifest, problem) = reader.Validate(json);
            if (problem is not null)
                throw new InvalidOperationException($"Demo manifest is invalid: {problem.Detail}");
            var outcome = await registrar.DecideAsync(manifest!, Platform, session, ct);
            if (outcome.App is null)
            {
                logger.LogWarning("Demo app {AppId} was not registered: the policies refused it", manifest!.AppId);
                continue;
            }
            session.Events.StartStream<Apps.App>(outcome.App.Id, outcome.Events.ToArray());
            if (outcome.App.ExpiresAt is { } expiresAt) await bus.ScheduleAsync(new Apps.Expiring.ExpireApp(outcome.App.Id), expiresAt);
        }
        await session.SaveChangesAsync(ct);
        logger.LogInformation("Registered {Count} demo apps", manifests.Length);
    }
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
