using System.Collections;
using Cel;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Policies;

namespace GovernanceLedger.Policies;

/// <summary>A policy whose CEL expression is compiled once and kept with the version the ledger gave it.</summary>
public sealed record CompiledPolicy(PolicyDocument Document, int Version, DateTimeOffset PublishedAt, CelProgramDelegate Program);

/// <summary>
/// What registration policies see beside the manifest: how it differs from its template or previous version, and the
/// known vulnerabilities of its packages under advisory snapshot <paramref name="AdvisorySnapshot"/> (0: none imported).
/// </summary>
public sealed record RegistrationContext(IntentAssessed Intent, IReadOnlyList<Contracts.SupplyChain.Vulnerability> Vulnerabilities, int AdvisorySnapshot);

/// <summary>One policy's answer for one manifest: pass, or its effect with a reason a person can read.</summary>
public sealed record PolicyVerdict(
    string PolicyId, int Version, string ContentHash, string Outcome, string Reason, IReadOnlyList<string> Findings)
{
    public bool Fired => Outcome != PolicyOutcomes.Pass;
}

/// <summary>
/// Holds the policies in force and evaluates them. The set is swapped whole when policies are
/// republished, so an evaluation always sees one consistent set of versions.
/// </summary>
public sealed class PolicyEngine
{
    private static readonly CelEnvironment Cel = new(null, null);
    private IReadOnlyList<CompiledPolicy> _policies = [];

    public IReadOnlyList<CompiledPolicy> Policies => Volatile.Read(ref _policies);

    public static CompiledPolicy Compile(PolicyDocument document, int version, DateTimeOffset publishedAt)
    {
        try
        {
            return new CompiledPolicy(document, version, publishedAt, Cel.Compile(document.Findings));
        }
        catch (CelExpressionParserException e)
        {
            throw new PolicyFileException(document.Id, $"'findings' is not a valid CEL expression: {e.Message}");
        }
    }

    public void Replace(IEnumerable<CompiledPolicy> policies)
    {
        Volatile.Write(ref _policies, policies.OrderBy(p => p.Document.Id, StringComparer.Ordinal).ToList());
        Interlocked.Increment(ref _generation);
    }

    public IReadOnlyList<PolicyVerdict> Evaluate(AppManifest manifest, DataCatalog catalog, AppQuotas ceiling, RegistrationContext context)
    {
        var policies = Policies;
        if (policies.Count == 0)
            throw new InvalidOperationException("No policies are loaded; refusing to decide without them (fail closed).");

        var input = PolicyInput.From(manifest, catalog, ceiling, context);
        return policies.Where(p => p.Document.Stage == PolicyStages.Registration).Select(p => Evaluate(p, input)).ToList();
    }

    /// <summary>
    /// Runtime policies over a data-plane request. Callers cache the verdicts per app state, token
    /// scopes and route: the inputs are few and repeat, and CEL costs tens of microseconds a call.
    /// </summary>
    public IReadOnlyList<PolicyVerdict> EvaluateRuntime(IDictionary<string, object?> input)
    {
        var runtime = Policies.Where(p => p.Document.Stage == PolicyStages.Runtime).ToList();
        if (runtime.Count == 0)
            throw new InvalidOperationException("No runtime policies are loaded; refusing to serve without them (fail closed).");
        return runtime.Select(p => Evaluate(p, input)).ToList();
    }

    /// <summary>Policies of one stage (topic requests, for instance) over their input; none loaded means deny.</summary>
    public IReadOnlyList<PolicyVerdict> EvaluateStage(string stage, IDictionary<string, object?> input)
    {
        var policies = Policies.Where(p => p.Document.Stage == stage).ToList();
        if (policies.Count == 0)
            throw new InvalidOperationException($"No {stage} policies are loaded; refusing to decide without them (fail closed).");
        return policies.Select(p => Evaluate(p, input)).ToList();
    }

    /// <summary>Bumped whenever the policy set is replaced, so cached runtime verdicts are dropped.</summary>
    public int Generation => Volatile.Read(ref _generation);
    private int _generation;

    private static PolicyVerdict Evaluate(CompiledPolicy policy, IDictionary<string, object?> input)
    {
        var doc = policy.Document;
        object? result;
        try
        {
            result = policy.Program.Invoke(input);
        }
        catch (Exception e)
        {
            // Fail closed: a policy that cannot be evaluated denies, and says so.
            return new PolicyVerdict(doc.Id, policy.Version, doc.ContentHash, PolicyOutcomes.Deny,
                $"Policy could not be evaluated, so the request is denied: {e.Message}", []);
        }

        var findings = result switch
        {
            bool fired => fired ? [] : null,
            string s => [s],
            IEnumerable items => items.Cast<object?>().Select(i => Convert.ToString(i) ?? "null").ToList(),
            _ => (List<string>?)null
        };
        var fires = result is true || findings is { Count: > 0 };
        if (result is not (bool or IEnumerable))
            return new PolicyVerdict(doc.Id, policy.Version, doc.ContentHash, PolicyOutcomes.Deny,
                $"Policy returned {result?.GetType().Name ?? "null"} instead of a list or a boolean, so the request is denied", []);

        if (!fires)
            return new PolicyVerdict(doc.Id, policy.Version, doc.ContentHash, PolicyOutcomes.Pass, "passed", []);

        var reason = findings is { Count: > 0 } ? $"{doc.Reason}: {string.Join(", ", findings)}" : doc.Reason;
        return new PolicyVerdict(doc.Id, policy.Version, doc.ContentHash, doc.Effect, reason, findings ?? []);
    }
}
