using Confluent.Kafka;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Projections.Streaming;
using GovernanceLedger.Streaming.Kafka;
using Marten;

namespace GovernanceLedger.Streaming.Topics;

/// <summary>
/// A topic request is committed before the topic is created and <see cref="TopicProvisioned"/> after: a
/// process that dies in between leaves a topic on the cluster the ledger calls "requested". Every
/// <see cref="Grace"/> this finds such topics (requested longer ago than the grace, present on the
/// cluster), checks them against the topic policy in force, and records what is true: provisioned (by
/// the reconciler) when the policy allows them, denied when it no longer does. A request whose topic
/// never reached the cluster stays requested; its owner may ask again.
/// </summary>
public sealed class TopicReconciler(
    IDocumentStore store, PolicyEngine policies, KafkaSettings settings, KafkaTopics topics, TimeProvider clock,
    ILogger<TopicReconciler> logger) : BackgroundService
{
    public static readonly TimeSpan Grace = TimeSpan.FromMinutes(2);
    public const string Actor = "ledger-reconciler";

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Grace, clock);
        while (await timer.WaitForNextTickAsync(stop).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result, CancellationToken.None))
        {
            try
            {
                await ReconcileAsync(stop);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                logger.LogWarning(e, "Reconciling topics failed; trying again later");
            }
        }
    }

    private readonly OneAtATime _looks = new();

    /// <summary>One look (one at a time in this process, so a timer tick and a caller never record twice); returns what was recorded.</summary>
    public Task<IReadOnlyList<object>> ReconcileAsync(CancellationToken ct) => _looks.RunAsync(LookAsync, ct);

    private async Task<IReadOnlyList<object>> LookAsync(CancellationToken ct)
    {
        var before = clock.GetUtcNow() - Grace;
        IReadOnlyList<TopicEntry> pending;
        await using (var query = store.QuerySession())
            pending = await query.Query<TopicEntry>().Where(t => t.Status == TopicStatus.Requested && t.RequestedAt <= before).ToListAsync(ct);
        if (pending.Count == 0) return [];

        Dictionary<string, int> onCluster;
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = settings.BootstrapServers }).Build())
            onCluster = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Where(t => t.Error.Code == ErrorCode.NoError)
                .ToDictionary(t => t.Topic, t => t.Partitions.Count);

        var recorded = new List<object>();
        foreach (var entry in pending.Where(p => onCluster.ContainsKey(p.Topic)))
        {
            var now = clock.GetUtcNow();
            var partitions = onCluster[entry.Topic];
            var (deciding, reasons) = TopicRequests.Check(policies, settings, entry.Topic, partitions, entry.RetentionDays);
            object record = reasons.Count == 0
                ? new TopicProvisioned(entry.Topic, partitions, entry.RetentionDays, topics.ClusterName, deciding.PolicyId, deciding.Version, Actor, now)
                : new TopicRequestDenied(entry.Topic, deciding.PolicyId, deciding.Version, reasons, Actor, now);
            await GovernanceLedger.Apps.AppStream.AppendWithRetryAsync(store, TopicRequests.StreamOf(entry.Topic), record, ct);
            logger.LogWarning("Topic {Topic} was on the cluster but not recorded as provisioned: recorded {Record}", entry.Topic, record.GetType().Name);
            recorded.Add(record);
        }
        return recorded;
    }
}
