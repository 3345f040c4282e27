using System.Text.Json;
using GovernanceLedger.Apps.Expiring;
using GovernanceLedger.Apps.Templates;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Projections.SupplyChain;
using GovernanceLedger.SupplyChain;
using GovernanceLedger.Security;
using Marten;
using Microsoft.Extensions.Options;
using GovernanceLedger.Telemetry;
using Wolverine;
using Wolverine.Marten;

namespace GovernanceLedger.Apps.Registering;

/// <summary>
/// The steps shared by both ways to register: check the id is free, run policies, decide. It writes nothing:
/// the endpoint returns <see cref="RegistrationOutcome.Stream"/> and <see cref="RegistrationOutcome.Messages"/>
/// and Wolverine applies both in one transaction.
/// </summary>
public sealed class Registrar(
    PolicyEngine policies, IOptionsMonitor<DataCatalog> catalog, TemplateCatalog templates, TimeProvider clock, LedgerTelemetry telemetry)
{
    public async Task<RegistrationOutcome> DecideAsync(AppManifest manifest, Caller caller, IQuerySession session, CancellationToken ct)
    {
        // Before the id's stream is looked up: a reserved id may name a stream of the ledger's own, which is no app.
        if (ReservedAppIds.Refusal(manifest.AppId) is { } reserved) return RegistrationOutcome.Refused(reserved);
        if (await session.Events.FetchStreamStateAsync(manifest.AppId, ct) is not null)
            return RegistrationOutcome.Refused(Problem.Conflict("app-id-taken",
                $"An app with app_id '{manifest.AppId}' is already in the ledger. If it is yours and was rejected or is waiting for review, " +
                $"send the changed manifest with PUT /apps/{manifest.AppId}/manifest; otherwise choose another app_id."));

        var now = clock.GetUtcNow();
        var (verdicts, context) = await JudgeAsync(manifest, caller, session, ct);
        var decision = Registration.Decide(manifest, caller, verdicts, now, context.Intent);
        if (decision.Problem is { } problem)
            return RegistrationOutcome.Refused(problem);

        var app = App.Replay(decision.Events);
        Count(app, manifest, verdicts);
        return new RegistrationOutcome(Answer(app, decision.Events.Count, verdicts, StatusCodes.Status201Created), app, decision.Events);
    }

    /// <summary>
    /// Every registration-stage policy's verdict on the manifest, with its template's quota ceiling, how it differs from
    /// the template it names and the known vulnerabilities of its packages under the advisory snapshot in force.
    /// A resubmitted manifest is compared with the template too, never with the manifest it replaces: that one was
    /// refused or never approved, so it is no baseline (else a refused widening, resubmitted, would look like no change).
    /// </summary>
    public async Task<(IReadOnlyList<PolicyVerdict> Verdicts, RegistrationContext Context)> JudgeAsync(
        AppManifest manifest, Caller caller, IQuerySession session, CancellationToken ct)
    {
        var ceiling = manifest.Template is { } id && templates.Find(id)?.Quotas is { } q
            ? q.Deserialize<AppQuotas>(TemplateCatalog.QuotaJson) ?? new AppQuotas(null, null, null)
            : new AppQuotas(null, null, null);
        var baseline = ManifestBaseline.From(manifest, templates);
        var intent = Intent.Assess(manifest, baseline, catalog.CurrentValue, caller.Actor, clock.GetUtcNow());
        var advisories = await session.LoadAsync<AdvisoryDatabase>(AdvisoryDatabase.StreamId, ct);
        var context = new RegistrationContext(intent, AdvisoryMatcher.Match(manifest.Dependencies, advisories?.Advisories ?? []), advisories?.Version ?? 0);
        return (policies.Evaluate(manifest, catalog.CurrentValue, ceiling, context), context);
    }

    public void Count(App app, AppManifest manifest, IReadOnlyList<PolicyVerdict> verdicts)
    {
        telemetry.Registrations.Add(1, new("status", app.Status), new("generated_by", manifest.GeneratedBy));
        foreach (var verdict in verdicts)
            telemetry.Decisions.Add(1, new("policy_id", verdict.PolicyId), new("outcome", verdict.Outcome));
    }

    public IReadOnlyList<FindingView> Findings(IEnumerable<PolicyVerdict> verdicts) =>
        verdicts.Select(v => new FindingView(v.PolicyId, v.Version, v.Outcome, v.Reason, v.Findings,
            v.Fired ? policies.Policies.FirstOrDefault(p => p.Document.Id == v.PolicyId)?.Document.Fix : null)).ToList();

    /// <summary>
    /// The answer to a recorded registration or resubmission. A rejection is not a success: it is 422 problem+json naming
    /// each refusing policy as a rule, with what to change and how to resubmit, and the full record beside it.
    /// </summary>
    public IResult Answer(App app, long version, IReadOnlyList<PolicyVerdict> verdicts, int acceptedStatus)
    {
        var findings = Findings(verdicts);
        if (app.Status != AppStatus.Rejected)
        {
            var response = new RegistrationResponse(app.Id, app.Status, version, app.RequiredApprovals, app.ExpiresAt, findings);
            return acceptedStatus == StatusCodes.Status201Created ? Results.Created($"/apps/{app.Id}", response) : Results.Ok(response);
        }
        var refusing = findings.Where(f => f.Outcome == PolicyOutcomes.Deny).ToList();
        var details = new Microsoft.AspNetCore.Mvc.ProblemDetails
        {
            Status = StatusCodes.Status422UnprocessableEntity,
            Type = "https://governance-ledger.dev/problems/registration-refused",
            Title = "The app was refused",
            Detail = $"{app.Id} was refused by {string.Join(" and ", refusing.Select(f => f.PolicyId))}: " +
                $"{string.Join("; ", refusing.Select(f => (f.Fix ?? f.Reason).TrimEnd('.')))}. The refusal is on the app's timeline; " +
                $"send the changed manifest with PUT /apps/{app.Id}/manifest to try again under the same app_id."
        };
        details.Extensions["errors"] = refusing.Select(f => new
        {
            field = f.Findings.Count > 0 ? string.Join(", ", f.Findings) : "",
            rule = f.PolicyId,
            message = f.Fix is null ? f.Reason : $"{f.Reason}. {f.Fix}"
        }).ToList();
        details.Extensions["app_id"] = app.Id;
        details.Extensions["app_status"] = app.Status;
        details.Extensions["version"] = version;
        details.Extensions["resubmit"] = $"PUT /apps/{app.Id}/manifest";
        details.Extensions["findings"] = findings;
        return Results.Problem(details);
    }
}

/// <summary>What a registration came to: the answer, and the new stream and expiry that go with an accepted one.</summary>
public sealed record RegistrationOutcome(IResult Response, App? App, IReadOnlyList<object> Events)
{
    public static RegistrationOutcome Refused(Problem problem) => new(problem.ToResult(), null, []);

    // Starting the stream fails on a duplicate id even under a race, which the exception handler answers with 409.
    public IMartenOp Stream => App is null ? MartenOps.Nothing() : MartenOps.StartStream<App>(App.Id, Events.ToArray());

    public OutgoingMessages Messages
    {
        get
        {
            var messages = new OutgoingMessages();
            if (App?.ExpiresAt is { } expiresAt) messages.Schedule(new ExpireApp(App.Id), expiresAt);
            return messages;
        }
    }
}

public sealed record RegistrationResponse(
    string AppId, string Status, long Version, int RequiredApprovals, DateTimeOffset? ExpiresAt, IReadOnlyList<FindingView> Findings);

/// <summary>One policy's verdict as a person reads it; Fix (when it fired) says what to change.</summary>
public sealed record FindingView(string PolicyId, int PolicyVersion, string Outcome, string Reason, IReadOnlyList<string> Findings, string? Fix = null);
