using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Streaming;
using Marten;

namespace GovernanceLedger.Streaming.Topics;

/// <summary>GET /topics: every provisioned topic with its owner, purpose and settings now (the topic projection).</summary>
public static class ListTopics
{
    public static async Task<IResult> HandleAsync(IQuerySession session, CancellationToken ct) =>
        Results.Json(await session.Query<TopicEntry>().Where(t => t.Status == TopicStatus.Provisioned).OrderBy(t => t.Topic).ToListAsync(ct),
            LedgerSetup.ApiJson);
}
