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
