using GovernanceLedger.Security;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Streaming.AuditStream;
using GovernanceLedger.Streaming.Cdc;
using GovernanceLedger.Streaming.Kafka;
using GovernanceLedger.Streaming.Registry;
using GovernanceLedger.Streaming.Topics;
using Marten;
using Wolverine;
using Wolverine.Kafka;

namespace GovernanceLedger.Streaming;

/// <summary>
/// Kafka, the schema registry, the audit stream, CDC connectors, topic requests and grants.
/// The registry is always served; the rest runs when Kafka:Mode is embedded or cluster.
/// </summary>
public static class StreamingSetup
{
    public static WebApplicationBuilder AddStreaming(this WebApplicationBuilder builder)
    {
        var settings = builder.Configuration.GetSection(KafkaSettings.Section).Get<KafkaSettings>() ?? new KafkaSettings();
        settings.Mode = settings.Mode.ToLowerInvariant();
        if (settings.Mode is not (KafkaModes.Off or KafkaModes.Embedded or KafkaModes.Cluster))
            throw new InvalidOperationException($"Kafka:Mode must be off, embedded or cluster, got '{settings.Mode}'.");
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<SchemaRegistryLedger>();
        if (!settings.Enabled) return builder;

        if (settings.Mode == KafkaModes.Embedded)
        {
            var mock = new MockKafkaCluster();
            settings.BootstrapServers = mock.BootstrapServers;
            builder.Services.AddSingleton(mock);
            Console.Error.WriteLine(
                $"WARNING: Kafka runs EMBEDDED on librdkafka's in-memory mock cluster at {mock.BootstrapServers}. " +
                "Nothing on it is durable and it vanishes when this process stops. Use Kafka:Mode=cluster for real brokers.");
        }
        else if (string.IsNullOrWhiteSpace(settings.BootstrapServers))
            throw new InvalidOperationException("Kafka:Mode is cluster but Kafka:BootstrapServers is not set.");

        builder.Services.AddSingleton(sp => new KafkaTopics(settings, sp.GetService<MockKafkaCluster>()));
        builder.Services.AddSingleton<AvroTopics>();
        builder.Services.AddSingleton<ChangeRecords>();
        builder.Services.AddSingleton<ReadTopic>();
        builder.Services.AddSingleton<ProduceTopic>();
        builder.Services.AddHostedService<StreamingBootstrap>();
        builder.Services.AddSingleton<AuditRelay>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AuditRelay>());
        builder.Services.AddSingleton<CdcConnectors>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CdcConnectors>());
        builder.Services.AddSingleton<Topics.TopicReconciler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Topics.TopicReconciler>());
        builder.Services.AddSingleton<CdcReconciler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CdcReconciler>());

        // Wolverine's Kafka transport carries the Kafka Connect intake: Debezium-format changes from a raw topic.
        builder.Services.ConfigureWolverine(opts =>
        {
            var kafka = opts.UseKafka(settings.BootstrapServers);
            kafka.ConfigureConsumers(c =>
            {
                c.AutoOffsetReset = Confluent.Kafka.AutoOffsetReset.Earliest;
                // A restarted instance takes its partitions back within seconds rather than after the default 45 s session.
                c.SessionTimeoutMs = 10_000;
                c.HeartbeatIntervalMs = 2_000;
            });
            if (settings.DebeziumTopic.Length > 0)
                opts.ListenToKafkaTopic(settings.DebeziumTopic).ReceiveRawJson<DebeziumChange>();
        });
        return builder;
    }

    public static void MapStreaming(this WebApplication app)
    {
        app.MapSchemaRegistry();
        var settings = app.Services.GetRequiredService<KafkaSettings>();
        if (!settings.Enabled) return;
        app.MapPost("/topics/requests", TopicRequests.HandleAsync).RequireAuthorization(PeopleAuthentication.Policies.Registrant).WithTags("Streaming");
        app.MapGet("/topics", ListTopics.HandleAsync).RequireAuthorization().WithTags("Streaming");
        app.MapPost("/topics/{topic}/changes", TopicChanges.HandleAsync).RequireAuthorization().WithTags("Streaming");
        app.MapGet("/topics/{topic}/records", (HttpContext context, string topic, int? max, int? wait_ms, ReadTopic reader) =>
            reader.HandleAsync(context, topic, max, wait_ms)).AllowAnonymous().WithTags("Streaming")
            .WithSummary("Reads a curated topic with an app token and a read grant, in the app's own consumer group (an access event).");
        app.MapPost("/topics/{topic}/records", (HttpContext context, string topic, ProduceTopic producer) =>
            producer.HandleAsync(context, topic)).AllowAnonymous().WithTags("Streaming")
            .WithSummary("Produces records to a curated topic with an app token and a write grant, each checked against the registered schema (an access event).");
        app.MapPost("/cdc/connectors", DeclareConnector.HandleAsync).RequireAuthorization(PeopleAuthentication.Policies.Admin).WithTags("Streaming");
        app.MapDelete("/cdc/connectors/{connectorId}", RetireConnector.HandleAsync).RequireAuthorization(PeopleAuthentication.Policies.Admin).WithTags("Streaming");
        app.MapGet("/cdc/connectors", ListConnectors.HandleAsync).RequireAuthorization().WithTags("Streaming");
    }

    /// <summary>Resolves once the host has started serving (the ledger's own registry is reachable then).</summary>
    public static Task WaitUntilStartedAsync(this IHostApplicationLifetime lifetime, CancellationToken stop)
    {
        if (lifetime.ApplicationStarted.IsCancellationRequested) return Task.CompletedTask;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        stop.Register(() => started.TrySetCanceled(stop));
        return started.Task;
    }
}
