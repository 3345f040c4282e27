using YamlDotNet.RepresentationModel;

namespace GovernanceLedger.Tests.Infrastructure;

[Collection(LedgerCollection.Name)]
public sealed class Service_surface_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task Health_reports_the_ledger_reachable_and_the_policies_in_force()
    {
        var health = await ledger.Get("/health", null);
        health.Status.ShouldBe(200);
        health.Str("status").ShouldBe("healthy");
        health.Node("policies_in_force")!.GetValue<int>().ShouldBe(PolicyFiles.All);
        // The app directory has read the catalog: the data plane can admit apps.
        health.Str("apps").ShouldBe("loaded");
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_control_plane_and_the_reference_page_is_served()
    {
        var openapi = await ledger.Get("/openapi/v1.json", null);
        openapi.Status.ShouldBe(200);
        var paths = openapi.Node("paths")!.AsObject().Select(p => p.Key).ToList();
        paths.ShouldContain("/apps");
        paths.ShouldContain("/apps/{appId}/approvals");
        paths.ShouldContain("/apps/{appId}/tokens");
        paths.ShouldContain("/.well-known/jwks.json");
        var page = await ledger.Send(HttpMethod.Get, "/scalar/", null, null);
        page.Status.ShouldBe(200);
        page.Text.ShouldContain("openapi/v1.json");
    }

    [Fact]
    public async Task Prometheus_metrics_are_exposed()
    {
        await ledger.ActiveApp("metrics");
        var metrics = await ledger.Send(HttpMethod.Get, "/metrics", null, LedgerFixture.ScrapeToken);
        metrics.Status.ShouldBe(200);
        metrics.Text.ShouldContain("ledger_app_registrations_total");
        // Request durations are kept; the meters that count on every request and say nothing more are left out.
        metrics.Text.ShouldContain("http_server_request_duration_seconds");
        metrics.Text.ShouldNotContain("aspnetcore_routing_match_attempts");
        metrics.Text.ShouldNotContain("aspnetcore_memory_pool");
        metrics.Text.ShouldNotContain("aspnetcore_authorization_attempts");
    }

    private static string RepositoryFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GovernanceLedger.sln")))
                return Path.Combine(dir.FullName, name);
        throw new FileNotFoundException(name);
    }

    [Fact]
    public void Docker_compose_wires_the_ledger_to_postgres_kafka_registry_collector_prometheus_and_grafana()
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(RepositoryFile("docker-compose.yml"))));
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var services = (YamlMappingNode)root["services"];
        var names = services.Children.Keys.Select(k => ((YamlScalarNode)k).Value).ToList();
        names.ShouldBe(["postgres", "kafka", "schema-registry", "otel-collector", "prometheus", "grafana", "ledger"], ignoreOrder: true);

        var kafka = (YamlMappingNode)services["kafka"];
        var kafkaEnv = Environment(kafka);
        kafkaEnv["KAFKA_PROCESS_ROLES"].ShouldContain("controller");   // KRaft, no ZooKeeper
        names.ShouldNotContain("zookeeper");

        var ledgerService = (YamlMappingNode)services["ledger"];
        ((YamlMappingNode)ledgerService["build"])["dockerfile"].ToString().ShouldBe("Dockerfile");
        File.Exists(RepositoryFile("Dockerfile")).ShouldBeTrue();
        var env = Environment(ledgerService);
        env["ConnectionStrings__Ledger"].ShouldContain("Host=postgres");
        env["Kafka__BootstrapServers"].ShouldBe("kafka:9092");
        env["Kafka__Mode"].ShouldBe("cluster");
        env["Kafka__SchemaRegistryUrl"].ShouldBe("http://schema-registry:8081");
        env["OTEL_EXPORTER_OTLP_ENDPOINT"].ShouldBe("http://otel-collector:4317");
        var dependsOn = ((YamlMappingNode)ledgerService["depends_on"]).Children.Keys.Select(k => k.ToString()).ToList();
        dependsOn.ShouldBe(["postgres", "kafka", "schema-registry", "otel-collector"], ignoreOrder: true);

        var configs = (YamlMappingNode)root["configs"];
        ((YamlMappingNode)configs["prometheus"])["content"].ToString().ShouldContain("ledger:8080");
        ((YamlMappingNode)configs["otel-collector"])["content"].ToString().ShouldContain("otlp");
    }

    private static Dictionary<string, string> Environment(YamlMappingNode service) =>
        ((YamlMappingNode)service["environment"]).Children.ToDictionary(k => k.Key.ToString(), v => v.Value.ToString());
}
