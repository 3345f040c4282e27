using Avro.Generic;
using Confluent.Kafka;
using Confluent.Kafka.SyncOverAsync;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using GovernanceLedger.Streaming.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>
/// The ledger with Kafka on: librdkafka's mock cluster (owned here, so it outlives host restarts) and
/// the ledger's own /registry reachable over real TCP, because Confluent's clients speak plain HTTP.
/// A small Kestrel relay forwards that port to the in-memory test server.
/// </summary>
public class StreamingFixture : LedgerFixture
{
    public MockKafkaCluster Kafka { get; } = new();
    public string RegistryUrl { get; private set; } = "";
    private WebApplication? _relay;

    /// <summary>Where this fixture's host posts its OpenLineage events.</summary>
    public GovernanceLedger.Tests.Warehouse.OpenLineageSink Lineage { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        Lineage = await GovernanceLedger.Tests.Warehouse.OpenLineageSink.StartAsync();
        var relay = WebApplication.CreateSlimBuilder();
        relay.WebHost.UseUrls("http://127.0.0.1:0");
        _relay = relay.Build();
        _relay.Run(ForwardAsync);
        await _relay.StartAsync();
        RegistryUrl = _relay.Urls.First() + "/registry";
        // Kafka Connect would own this topic; the mock cluster cannot auto-create it for Wolverine's listener.
        Kafka.CreateTopic(DebeziumTopic, 1);
        await base.InitializeAsync();
    }

    public const string DebeziumTopic = "connect.salesdb.orders";
    /// <summary>Allowed by the fixture's topic policy and used by the topic reconciler's test alone.</summary>
    public const string OrphanProbeTopic = "orphan.probe.v1";
    /// <summary>An allowed topic an app owner asks for before a connector is declared onto it.</summary>
    public const string SquattedTopic = "orders.squat.v1";

    protected override bool ExternalTransports => true;

    public override Dictionary<string, string?> DataPlaneSettings()
    {
        var settings = base.DataPlaneSettings();
        settings["Kafka:Mode"] = KafkaModes.Cluster;
        // The brokers are librdkafka's mock cluster, which does not check idempotent sequence numbers (see KafkaSettings.MaxInFlight).
        settings["Kafka:MaxInFlight"] = "1";
        settings["Kafka:BootstrapServers"] = Kafka.BootstrapServers;
        settings["Kafka:SchemaRegistryUrl"] = RegistryUrl;
        settings["Kafka:DebeziumTopic"] = DebeziumTopic;
        // Beside the three allowed in appsettings.json.
        settings["Kafka:TopicPolicy:AllowedTopics:3"] = OrphanProbeTopic;
        settings["Kafka:TopicPolicy:AllowedTopics:4"] = SquattedTopic;
        settings["Warehouse:OpenLineage:Url"] = Lineage.Url;
        return settings;
    }

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton(Kafka);

    private async Task ForwardAsync(HttpContext context)
    {
        using var client = Host.Server.CreateClient();
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString);
        if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            request.Content = new ByteArrayContent(body.ToArray());
            if (context.Request.ContentType is { } type) request.Content.Headers.TryAddWithoutValidation("Content-Type", type);
        }
        if (context.Request.Headers.Authorization.Count > 0)
            request.Headers.TryAddWithoutValidation("Authorization", context.Request.Headers.Authorization.ToString());
        using var response = await client.SendAsync(request);
        context.Response.StatusCode = (int)response.StatusCode;
        if (response.Content.Headers.ContentType is { } contentType) context.Response.ContentType = contentType.ToString();
        await response.Content.CopyToAsync(context.Response.Body);
    }

    public CachedSchemaRegistryClient RegistryClient(string? bearer = null)
    {
        var config = new SchemaRegistryConfig { Url = RegistryUrl };
        if (bearer is not null)
        {
            config.BearerAuthCredentialsSource = BearerAuthCredentialsSource.StaticToken;
            config.BearerAuthToken = bearer;
            // Confluent's client insists on these two for static bearer tokens; the ledger ignores them.
            config.Set(SchemaRegistryConfig.PropertyNames.SchemaRegistryBearerAuthLogicalCluster, "ledger");
            config.Set(SchemaRegistryConfig.PropertyNames.SchemaRegistryBearerAuthIdentityPoolId, "ledger");
        }
        return new CachedSchemaRegistryClient(config);
    }

    /// <summary>Everything on a topic from the beginning, Avro-decoded through the registry, until <paramref name="quiet"/> passes with nothing new.</summary>
    public async Task<List<ConsumeResult<string, GenericRecord>>> ReadAvroAsync(string topic, Func<List<ConsumeResult<string, GenericRecord>>, bool> enough, TimeSpan? timeout = null)
    {
        using var registry = RegistryClient();
        using var consumer = new ConsumerBuilder<string, GenericRecord>(new ConsumerConfig
            {
                BootstrapServers = Kafka.BootstrapServers, GroupId = $"test-{Guid.NewGuid():N}", AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false
            })
            .SetValueDeserializer(new AvroDeserializer<GenericRecord>(registry).AsSyncOverAsync())
            .Build();
        consumer.Subscribe(topic);
        var results = new List<ConsumeResult<string, GenericRecord>>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!enough(results) && DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is { IsPartitionEOF: false }) results.Add(result);
        }
        consumer.Close();
        return results;
    }

    public async Task<List<ConsumeResult<string, byte[]>>> ReadRawAsync(string topic, Func<List<ConsumeResult<string, byte[]>>, bool> enough, TimeSpan? timeout = null)
    {
        using var consumer = new ConsumerBuilder<string, byte[]>(new ConsumerConfig
        {
            BootstrapServers = Kafka.BootstrapServers, GroupId = $"test-{Guid.NewGuid():N}", AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false
        }).Build();
        consumer.Subscribe(topic);
        var results = new List<ConsumeResult<string, byte[]>>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!enough(results) && DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is { IsPartitionEOF: false }) results.Add(result);
        }
        consumer.Close();
        await Task.CompletedTask;
        return results;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_relay is not null) await _relay.DisposeAsync();
        if (Lineage is not null) await Lineage.DisposeAsync();
        Kafka.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class StreamingCollection : ICollectionFixture<StreamingFixture>
{
    public const string Name = "streaming";
}
