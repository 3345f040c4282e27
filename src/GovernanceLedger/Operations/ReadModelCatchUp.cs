using Marten;

namespace GovernanceLedger.Operations;

/// <summary>
/// At start-up, before anything else appends: a read model this ledger has never built (one added by an
/// upgrade, over a ledger that already holds events) is built from the whole ledger, blue/green, so it
/// starts out complete rather than knowing only what happens from now on. On an empty ledger there is
/// nothing to replay: every read model is simply marked built.
/// </summary>
public sealed class ReadModelCatchUp(IDocumentStore store, ReadModelRebuilder rebuilder, ILogger<ReadModelCatchUp> logger) : IHostedService
{
    public Task StartAsync(CancellationToken ct) => CatchUpAsync(ct);

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Builds the read models never built here; returns their projection names.</summary>
    public async Task<IReadOnlyList<string>> CatchUpAsync(CancellationToken ct)
    {
        List<string> missing;
        bool empty;
        await using (var query = store.QuerySession())
        {
            var built = (await query.Query<ReadModelBuilt>().Select(b => b.Id).ToListAsync(ct)).ToHashSet();
            missing = ReadModelRebuilder.ReadModels.Select(r => r.Projection).Where(p => !built.Contains(p)).ToList();
            if (missing.Count == 0) return [];
            empty = !await query.Events.QueryAllRawEvents().AnyAsync(ct);
        }
        if (empty)
        {
            await using var session = store.LightweightSession();
            foreach (var projection in missing) session.Store(new ReadModelBuilt { Id = projection });
            await session.SaveChangesAsync(ct);
            return missing;
        }
        logger.LogWarning("Building read models this ledger has never built, from the whole ledger: {Projections}", string.Join(", ", missing));
        var outcome = await rebuilder.RunAsync(missing, line =>
        {
            logger.LogInformation("Read model build: {Progress}", System.Text.Json.JsonSerializer.Serialize(line));
            return Task.CompletedTask;
        }, ct);
        // Another instance is building them: it records them built when done.
        if (outcome != RebuildOutcome.Done) logger.LogInformation("Read models are being built by another instance");
        return missing;
    }
}
