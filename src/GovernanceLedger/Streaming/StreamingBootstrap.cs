using Confluent.SchemaRegistry;
using GovernanceLedger.Streaming.Kafka;
using GovernanceLedger.Streaming.Registry;

namespace GovernanceLedger.Streaming;

/// <summary>
/// Before anything is published: the ledger's own topics exist, and the Avro contracts in
/// schemas/avro are registered (as the "ledger" actor) under each topic's value subject, in the
/// ledger's registry or, when Kafka:SchemaRegistryUrl points elsewhere, through Confluent's client.
/// </summary>
public sealed class StreamingBootstrap(
    KafkaSettings settings, KafkaTopics topics, SchemaRegistryLedger registry, AvroTopics avro, ILogger<StreamingBootstrap> logger) : IHostedService
{
    public static string SchemaDirectory => Path.Combine(AppContext.BaseDirectory, "schemas", "avro");

    public bool OwnRegistry => settings.SchemaRegistryUrl.TrimEnd('/').EndsWith("/registry", StringComparison.Ordinal);

    public async Task StartAsync(CancellationToken ct)
    {
        await topics.EnsureAsync(settings.AuditTopic, settings.LedgerTopicPartitions, 3650, ct);
        await topics.EnsureAsync(settings.ChargebackTopic, settings.LedgerTopicPartitions, 3650, ct);
        foreach (var file in Directory.GetFiles(SchemaDirectory, "*.avsc").Order(StringComparer.Ordinal))
        {
            var subject = AvroTopics.ValueSubject(Path.GetFileNameWithoutExtension(file));
            var text = await File.ReadAllTextAsync(file, ct);
            if (OwnRegistry)
            {
                var (registered, error) = await registry.RegisterAsync(subject, text, "AVRO", "ledger", ct);
                if (error is not null)
                    // An evolved subject that no longer accepts the bundled file is the registry's call, not a start-up failure.
                    logger.LogWarning("Bundled schema {File} was not registered under {Subject}: {Reason}", file, subject, error.Message);
                else
                    logger.LogInformation("Schema {Subject} is version {Version} (id {Id})", subject, registered!.Version, registered.Id);
            }
            else
            {
                var id = await avro.Registry.RegisterSchemaAsync(subject, new Schema(text, SchemaType.Avro));
                logger.LogInformation("Schema {Subject} registered in {Registry} with id {Id}", subject, settings.SchemaRegistryUrl, id);
            }
        }
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
