using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace GovernanceLedger.Streaming.Kafka;

/// <summary>
/// Creates topics: through the admin API on a real cluster, through the mock cluster's own API when
/// the brokers are librdkafka's mock (it does not implement CreateTopics).
/// </summary>
public sealed class KafkaTopics(KafkaSettings settings, MockKafkaCluster? mock = null)
{
    public string ClusterName => mock is null ? settings.BootstrapServers : $"mock:{mock.BootstrapServers}";

    /// <summary>The mock cluster has no API that adds partitions to an existing topic.</summary>
    public bool CanAddPartitions => mock is null;

    /// <summary>
    /// Grows a topic to <paramref name="partitions"/> (when more than it has) and sets its retention. The
    /// mock cluster keeps everything in memory and applies no retention, so there is nothing to set there.
    /// </summary>
    public async Task ChangeAsync(string topic, int? currentPartitions, int? partitions, int retentionDays, CancellationToken ct)
    {
        if (mock is not null)
        {
            if (partitions > currentPartitions)
                throw new NotSupportedException("The mock cluster cannot add partitions to an existing topic.");
            return;
        }
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = settings.BootstrapServers }).Build();
        if (partitions > currentPartitions)
            await admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = topic, IncreaseTo = partitions.Value }],
                new CreatePartitionsOptions { RequestTimeout = TimeSpan.FromSeconds(30) });
        await admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [new ConfigResource { Type = ResourceType.Topic, Name = topic }] =
            [
                new ConfigEntry
                {
                    Name = "retention.ms", Value = TimeSpan.FromDays(retentionDays).TotalMilliseconds.ToString("0"),
                    IncrementalOperation = AlterConfigOpType.Set
                }
            ]
        }, new IncrementalAlterConfigsOptions { RequestTimeout = TimeSpan.FromSeconds(30) });
        ct.ThrowIfCancellationRequested();
    }

    public async Task EnsureAsync(string topic, int partitions, int retentionDays, CancellationToken ct)
    {
        if (mock is not null)
        {
            mock.CreateTopic(topic, partitions);
            return;
        }
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = settings.BootstrapServers }).Build();
        try
        {
            await admin.CreateTopicsAsync([new TopicSpecification
            {
                Name = topic,
                NumPartitions = partitions,
                ReplicationFactor = -1,
                Configs = new() { ["retention.ms"] = TimeSpan.FromDays(retentionDays).TotalMilliseconds.ToString("0") }
            }], new CreateTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(30) });
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // Already there: creating is idempotent for the ledger's purposes.
        }
        ct.ThrowIfCancellationRequested();
    }
}
