using GovernanceLedger.Contracts.Policies;
using JasperFx.Events;
using GovernanceLedger.Projections.Policies;
using Marten;

namespace GovernanceLedger.Policies;

/// <summary>
/// At start-up: read policies/, publish what is new or changed as the next version (against the
/// <see cref="PolicyEntry"/> projection of what was published), withdraw what was removed, and load the
/// compiled set into the engine. A broken file stops the start, loudly.
/// </summary>
public sealed class PolicyPublisher(
    IDocumentStore store, PolicyEngine engine, IConfiguration configuration, IHostEnvironment environment,
    TimeProvider clock, ILogger<PolicyPublisher> logger) : IHostedService
{
    public static string StreamFor(string policyId) => $"policy:{policyId}";

    public Task StartAsync(CancellationToken ct) => PublishAsync(ct);

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    public string Directory => configuration["Policies:Directory"] is { Length: > 0 } configured
        ? Path.GetFullPath(configured, environment.ContentRootPath)
        : Path.Combine(AppContext.BaseDirectory, "policies");

    public async Task PublishAsync(CancellationToken ct)
    {
        var files = System.IO.Directory.GetFiles(Directory, "*.policy.yaml").Order(StringComparer.Ordinal).ToList();
        var documents = files.Select(f => PolicyDocument.Parse(File.ReadAllText(f), Path.GetFileName(f))).ToList();
        var duplicate = documents.GroupBy(d => d.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new PolicyFileException(duplicate.Key, "the same id is declared by more than one file");
        // Compile before publishing anything: a set with one broken file must not half-enter the ledger.
        foreach (var document in documents) PolicyEngine.Compile(document, 0, default);

        await using var session = store.LightweightSession();
        var published = (await session.Query<PolicyEntry>().ToListAsync(ct)).ToDictionary(p => p.PolicyId);
        var now = clock.GetUtcNow();
        var inForce = new List<CompiledPolicy>();

        foreach (var document in documents)
        {
            published.TryGetValue(document.Id, out var latest);
            if (latest is { InForce: true } && latest.ContentHash == document.ContentHash)
            {
                inForce.Add(PolicyEngine.Compile(document, latest.PolicyVersion, latest.PublishedAt));
                continue;
            }
            var version = (latest?.PolicyVersion ?? 0) + 1;
            var e = new PolicyPublished(document.Id, version, document.ContentHash, document.Title, document.Effect,
                document.Source, document.Owner, now);
            session.Events.Append(StreamFor(document.Id), e);
            inForce.Add(PolicyEngine.Compile(document, version, now));
            logger.LogInformation("Published policy {PolicyId} v{Version} ({Hash})", document.Id, version, document.ContentHash[..12]);
        }

        foreach (var (id, latest) in published)
        {
            if (documents.Any(d => d.Id == id) || !latest.InForce) continue;
            session.Events.Append(StreamFor(id), new PolicyWithdrawn(id, latest.PolicyVersion, "policy-loader", now));
            logger.LogWarning("Withdrew policy {PolicyId} v{Version}: its file is gone", id, latest.PolicyVersion);
        }

        await session.SaveChangesAsync(ct);
        engine.Replace(inForce);
        logger.LogInformation("{Count} policies in force from {Directory}", inForce.Count, Directory);
    }
}
