using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.DataPlane;
using GovernanceLedger.Policies;
using Marten;

namespace GovernanceLedger.DataProxy.Revealing;

/// <summary>Whether PII is shown this time, and if not, what the end user would have to do for it to be.</summary>
public sealed record RevealDecision(bool Reveal, IReadOnlyList<string> StepUp, RiskAssessment Risk, IReadOnlyList<string> PolicyIds, string? Reason)
{
    public static RevealDecision NotAsked(RiskAssessment risk) => new(false, [], risk, [], null);
}

/// <summary>
/// Dynamic masking. PII is revealed only when the token and the app's grant carry the PII scope (as before) and the
/// <c>reveal</c> policies find nothing missing for this end user now: their second factor, a risk score from the
/// ledger's record of them (<see cref="RiskAssessment"/>), and a stated reason (the X-Access-Reason header) where the
/// dataset requires one. Findings are the step-ups that would reveal it. No reveal policy loaded means masked.
/// </summary>
public sealed class RevealGate(PolicyEngine policies, IDocumentStore store, TimeProvider clock, ILogger<RevealGate> logger)
{
    public const string ReasonHeader = "X-Access-Reason";
    public const int MaxReasonLength = 200;

    public async Task<RevealDecision> DecideAsync(HttpContext context, AppCaller caller, string dataset, bool reasonRequired,
        IReadOnlyList<string> piiFields, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        EndUserActivity? activity = null;
        if (caller.EndUser is { } user)
        {
            await using var session = store.QuerySession();
            activity = await session.LoadAsync<EndUserActivity>(user, ct);
        }
        var risk = RiskAssessment.Of(activity, caller.EndUserRegion, now);
        var reason = Reason(context);
        var input = new Dictionary<string, object?>
        {
            ["user"] = new Dictionary<string, object?>
            {
                ["id"] = caller.EndUser ?? "", ["mfa"] = caller.Mfa, ["region"] = caller.EndUserRegion ?? "", ["is_owner_token"] = caller.EndUser is null
            },
            ["risk"] = new Dictionary<string, object?>
            {
                ["score"] = (long)risk.Score, ["denials_24h"] = (long)risk.Denials24h, ["requests_today"] = risk.RequestsToday,
                ["usual_requests_per_day"] = risk.UsualRequestsPerDay, ["new_region"] = risk.NewRegion,
                ["reasons"] = risk.Reasons.Select(r => (object?)r).ToList()
            },
            ["dataset"] = new Dictionary<string, object?>
            {
                ["name"] = dataset, ["reason_required"] = reasonRequired, ["pii_fields"] = piiFields.Select(f => (object?)f).ToList()
            },
            ["request"] = new Dictionary<string, object?> { ["reason"] = reason ?? "", ["app_id"] = caller.AppId }
        };
        IReadOnlyList<PolicyVerdict> verdicts;
        try
        {
            verdicts = policies.EvaluateStage(PolicyStages.Reveal, input);
        }
        catch (InvalidOperationException e)
        {
            logger.LogWarning("PII stays masked: {Why}", e.Message);
            return new RevealDecision(false, ["a reveal policy (none is loaded)"], risk, [], reason);
        }
        var fired = verdicts.Where(v => v.Fired).ToList();
        return new RevealDecision(fired.Count == 0, fired.SelectMany(v => v.Findings.Count > 0 ? v.Findings : [v.Reason]).Distinct().ToList(), risk,
            verdicts.Select(v => $"{v.PolicyId} v{v.Version}").ToList(), reason);
    }

    /// <summary>The end user's stated reason: visible text, at most <see cref="MaxReasonLength"/> characters, or none.</summary>
    private static string? Reason(HttpContext context)
    {
        var text = context.Request.Headers[ReasonHeader].ToString().Trim();
        if (text.Length == 0) return null;
        if (text.Length > MaxReasonLength) text = text[..MaxReasonLength];
        return text.Any(c => char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format) ? null : text;
    }
}
