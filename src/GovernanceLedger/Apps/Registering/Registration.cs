using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;

namespace GovernanceLedger.Apps.Registering;

/// <summary>
/// The registration decision: given the manifest, who asks, and every policy's verdict, what enters
/// the ledger. A deny rejects; otherwise the strictest review effect sets how many approvers it needs.
/// </summary>
public static class Registration
{
    /// <remarks><c>intent</c>: how the manifest differs from its template or previous version, recorded for agent-generated manifests.</remarks>
    public static Decision Decide(AppManifest manifest, Caller caller, IReadOnlyList<PolicyVerdict> verdicts, DateTimeOffset now,
        IntentAssessed? intent = null)
    {
        if (ReservedAppIds.Refusal(manifest.AppId) is { } reserved) return reserved;
        if (!caller.IsAdmin && !caller.Owns(manifest.Owner))
            return Problem.Forbidden("owner-must-be-caller",
                $"Only the owner ({manifest.Owner}) or a platform admin may register this app; you are {caller.Email ?? caller.Subject}.");
        if (caller.IsAgent && manifest.GeneratedBy != Generators.Agent)
            return Problem.Invalid("generated_by", "agent-callers",
                "An agent's token registered this manifest, so generated_by must be 'agent'.");

        var events = new List<object> { new AppRegistered(manifest.AppId, manifest, caller.Actor, now) };
        // What an agent asked for beyond its starting point, beside the verdicts, for the reviewers to see.
        if (intent is not null && manifest.GeneratedBy == Generators.Agent) events.Add(intent);
        events.AddRange(verdicts.Select(v => new PolicyChecked(
            manifest.AppId, v.PolicyId, v.Version, v.ContentHash, v.Outcome, v.Reason, v.Findings, "ledger", now)));

        var denial = verdicts.FirstOrDefault(v => v.Outcome == PolicyOutcomes.Deny);
        if (denial is not null)
        {
            var reasons = string.Join("; ", verdicts.Where(v => v.Outcome == PolicyOutcomes.Deny).Select(v => $"{v.PolicyId} v{v.Version}: {v.Reason}"));
            events.Add(new AppRejected(manifest.AppId, reasons, denial.PolicyId, denial.Version, "ledger", now));
            return Decision.Accept(events);
        }

        var requiredApprovals =
            verdicts.Any(v => v.Outcome == PolicyOutcomes.TwoApprovers) ? 2 :
            verdicts.Any(v => v.Outcome == PolicyOutcomes.Review) || manifest.GeneratedBy == Generators.Agent ? 1 : 0;
        if (requiredApprovals > 0)
        {
            var reasons = verdicts.Where(v => v.Fired).Select(v => $"{v.PolicyId} v{v.Version}: {v.Reason}").ToList();
            if (reasons.Count == 0) reasons.Add("agent-generated apps are always reviewed by a person");
            events.Add(new AppRoutedToReview(manifest.AppId, requiredApprovals, reasons, "ledger", now));
            return Decision.Accept(events);
        }

        var expiresAt = now.AddDays(manifest.ExpiresInDays);
        events.Add(new AppApproved(manifest.AppId, [], $"Every policy passed ({verdicts.Count} checked)", expiresAt, "ledger", now));
        events.Add(new AccessGranted(manifest.AppId, manifest.Scopes, manifest.Datasets, "ledger", now));
        return Decision.Accept(events);
    }
}
