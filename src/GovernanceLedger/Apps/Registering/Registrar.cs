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

namespace GovernanceLedger.Apps.Registering;

/// <summary>The steps shared by both ways to register: check the id is free, run policies, decide, start the stream.</summary>
public sealed class Registrar(
    PolicyEngine policies, IOptionsMonitor<DataCatalog> catalog, TemplateCatalog templates, TimeProvider clock, LedgerTelemetry telemetry)
{
    public async Task<IResult> RegisterAsync(AppManifest manifest, Caller caller, IDocumentSession session, IMessageBus bus, CancellationToken ct)
    {
        if (await session.Events.FetchStreamStateAsync(manifest.AppId, ct) is not null)
            return Problem.Conflict("app-id-taken", $"An app with app_id '{manifest.AppId}' is already in the ledger.").ToResult();

        var now = clock.GetUtcNow();
        var ceiling = manifest.Template is { } id && templates.Find(id)?.Quotas is { } q
            ? q.Deserialize<AppQuotas>(TemplateCatalog.QuotaJson) ?? new AppQuotas(null, null, null)
            : new AppQuotas(null, null, null);
        var verdicts = policies.Evaluate(manifest, catalog.CurrentValue, ceiling);
        var decision = Registration.Decide(manifest, caller, verdicts, now);
        if (decision.Problem is { } problem)
            return problem.ToResult();

        // StartStream fails on a duplicate id even under a race, which the exception handler answers with 409.
        session.Events.StartStream<App>(manifest.AppId, decision.Events.ToArray());
        var app = App.Replay(decision.Events);
        telemetry.Registrations.Add(1, new("status", app.Status), new("generated_by", manifest.GeneratedBy));
        foreach (var verdict in verdicts)
            telemetry.Decisions.Add(1, new("policy_id", verdict.PolicyId), new("outcome", verdict.Outcome));
        if (app.ExpiresAt is { } expiresAt)
            await bus.ScheduleAsync(new ExpireApp(app.Id), expiresAt);

        return Results.Created($"/apps/{manifest.AppId}", new RegistrationResponse(
            app.Id, app.Status, decision.Events.Count, app.RequiredApprovals, app.ExpiresAt,
            verdicts.Select(v => new FindingView(v.PolicyId, v.Version, v.Outcome, v.Reason, v.Findings)).ToList()));
    }
}

public sealed record RegistrationResponse(
    string AppId, string Status, long Version, int RequiredApprovals, DateTimeOffset? ExpiresAt, IReadOnlyList<FindingView> Findings);

public sealed record FindingView(string PolicyId, int PolicyVersion, string Outcome, string Reason, IReadOnlyList<string> Findings);
