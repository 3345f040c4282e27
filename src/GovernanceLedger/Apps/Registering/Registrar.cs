using System.Text.Json;
using GovernanceLedger.Apps.Expiring;
using GovernanceLedger.Apps.Templates;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
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
        if (await session.Events.FetchStreamStateAsync(manifest.AppId, ct) is not null)
            return RegistrationOutcome.Refused(Problem.Conflict("app-id-taken", $"An app with app_id '{manifest.AppId}' is already in the ledger."));

        var now = clock.GetUtcNow();
        var ceiling = manifest.Template is { } id && templates.Find(id)?.Quotas is { } q
            ? q.Deserialize<AppQuotas>(TemplateCatalog.QuotaJson) ?? new AppQuotas(null, null, null)
            : new AppQuotas(null, null, null);
        var verdicts = policies.Evaluate(manifest, catalog.CurrentValue, ceiling);
        var decision = Registration.Decide(manifest, caller, verdicts, now);
        if (decision.Problem is { } problem)
            return RegistrationOutcome.Refused(problem);

        var app = App.Replay(decision.Events);
        telemetry.Registrations.Add(1, new("status", app.Status), new("generated_by", manifest.GeneratedBy));
        foreach (var verdict in verdicts)
            telemetry.Decisions.Add(1, new("policy_id", verdict.PolicyId), new("outcome", verdict.Outcome));

        return new RegistrationOutcome(
            Results.Created($"/apps/{manifest.AppId}", new RegistrationResponse(
                app.Id, app.Status, decision.Events.Count, app.RequiredApprovals, app.ExpiresAt,
                verdicts.Select(v => new FindingView(v.PolicyId, v.Version, v.Outcome, v.Reason, v.Findings)).ToList())),
            app, decision.Events);
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

public sealed record FindingView(string PolicyId, int PolicyVersion, string Outcome, string Reason, IReadOnlyList<string> Findings);
