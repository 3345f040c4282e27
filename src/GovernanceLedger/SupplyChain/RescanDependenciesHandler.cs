using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.Operations.Detecting;
using GovernanceLedger.Policies;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Projections.SupplyChain;
using Marten;
using Wolverine;

namespace GovernanceLedger.SupplyChain;

/// <summary>
/// After an advisory snapshot is imported: every app that is running or waiting (active, paused, pending review) is
/// matched against it, and the advisories that were not in the snapshot before go to the <c>advisory</c> policies. A
/// policy that fires becomes an anomaly on the app's stream through the same path a detector takes (recorded once
/// per policy and snapshot, owner and security notified), with the effect the policy names.
/// </summary>
public static class RescanDependenciesHandler
{
    public static async Task<OutgoingMessages> Handle(RescanDependencies message, IQuerySession session, PolicyEngine policies, TimeProvider clock,
        ILogger<RescanDependencies> logger, CancellationToken ct)
    {
        var messages = new OutgoingMessages();
        var database = await session.LoadAsync<AdvisoryDatabase>(AdvisoryDatabase.StreamId, ct);
        // A newer snapshot's own re-scan covers what this one would have found.
        if (database is null || database.Version != message.Version) return messages;
        var fresh = database.Advisories.Where(a => !database.PreviousIds.Contains(a.Id)).ToList();
        if (fresh.Count == 0 || !policies.Policies.Any(p => p.Document.Stage == PolicyStages.Advisory)) return messages;

        var apps = await session.Query<AppCatalogEntry>()
            .Where(a => a.Status == AppStatus.Active || a.Status == AppStatus.Paused || a.Status == AppStatus.PendingReview)
            .ToListAsync(ct);
        var now = clock.GetUtcNow();
        foreach (var app in apps)
        {
            var found = AdvisoryMatcher.Match(app.Dependencies, fresh);
            if (found.Count == 0) continue;
            var input = new Dictionary<string, object?>
            {
                ["app"] = new Dictionary<string, object?> { ["id"] = app.Id, ["status"] = app.Status, ["owner"] = app.Owner },
                ["snapshot"] = new Dictionary<string, object?> { ["version"] = (long)database.Version, ["source"] = database.Source },
                ["vulnerabilities"] = found.Select(v => (object?)new Dictionary<string, object?>
                {
                    ["advisory"] = v.AdvisoryId, ["ecosystem"] = v.Ecosystem, ["package"] = v.Package, ["version"] = v.Version,
                    ["severity"] = v.Severity, ["summary"] = v.Summary, ["fixed_in"] = v.FixedIn ?? ""
                }).ToList()
            };
            foreach (var verdict in policies.EvaluateStage(PolicyStages.Advisory, input).Where(v => v.Fired))
            {
                logger.LogWarning("Advisory snapshot {Version} affects {App}: {Findings}", database.Version, app.Id, string.Join("; ", verdict.Findings));
                // A policy that cannot be evaluated fails closed elsewhere as deny; here that is at least an alert with its reason.
                var effect = verdict.Outcome == PolicyOutcomes.Deny ? PolicyOutcomes.Alert : verdict.Outcome;
                messages.Add(new AnomalySuspected(app.Id, verdict.PolicyId, verdict.Version, effect, "advisories", $"advisories-v{database.Version}",
                    found.Count, 0, verdict.Findings.Count > 0 ? verdict.Findings : [verdict.Reason], 0, now, $"advisory snapshot {database.Version} ({database.Source})"));
            }
        }
        return messages;
    }
}
