using System.Security.Claims;
using GovernanceLedger.Apps.Registering;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace GovernanceLedger.Apps.Resubmitting;

/// <summary>
/// PUT /apps/{appId}/manifest: fix and resubmit. The owner of an app that was refused, or is still waiting for review,
/// sends a changed manifest; it is recorded on the same timeline as the next manifest version and judged by the
/// policies as a registration is. Approved, paused, expired and retired apps keep their manifest.
/// </summary>
public static class ResubmitManifest
{
    public static Decision Decide(App app, AppManifest manifest, Caller caller, IReadOnlyList<PolicyVerdict> verdicts, DateTimeOffset now,
        IntentAssessed? intent = null)
    {
        if (manifest.AppId != app.Id)
            return Problem.Invalid("app_id", "same-app", $"The manifest names app_id '{manifest.AppId}', but it is sent for '{app.Id}'.");
        if (!caller.IsAdmin && !app.IsOwnedBy(caller))
            return Problem.Forbidden("owner-or-admin", "Only the app's owner or a platform admin may resubmit its manifest.");
        if (!Identity.Same(manifest.Owner, app.Owner))
            return Problem.Invalid("owner", "same-owner",
                $"A resubmitted manifest keeps the app's owner ({app.Owner}); hand an app over by registering a new one.");
        if (app.Status is not (AppStatus.Rejected or AppStatus.PendingReview))
            return Problem.Conflict("not-refused-or-pending",
                $"The app is {app.Status}: only a refused app or one waiting for review takes a new manifest. Register a new app for other changes.");

        // The registration's own decision, on the new manifest; its first event becomes the resubmission.
        var decision = Registration.Decide(manifest, caller, verdicts, now, intent);
        if (decision.Problem is not null) return decision;
        var events = decision.Events.ToList();
        events[0] = new ManifestResubmitted(app.Id, manifest, app.ManifestVersion + 1, caller.Actor, now);
        return Decision.Accept(events);
    }

    [WolverinePut("/apps/{appId}/manifest", OperationId = "resubmitManifest"), Authorize(Policy = PeopleAuthentication.Policies.Registrant)]
    [Tags("Apps")]
    public static async Task<(IResult, Events, OutgoingMessages)> Put(string appId, HttpRequest request, [WriteAggregate("appId", Required = false)] IEventStream<App> app,
        ClaimsPrincipal user, ManifestReader reader, Registrar registrar, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        var messages = new OutgoingMessages();
        var caller = Caller.From(user);
        // Strangers learn nothing, whatever they send.
        if (app.Aggregate is not { } current || !(caller.IsAdmin || current.IsOwnedBy(caller) || caller.IsReviewer))
            return (Problem.NoSuchApp(appId).ToResult(), [], messages);

        var (body, unreadable) = await ManifestReader.ReadObjectAsync(request, ct);
        if (unreadable is not null) return (unreadable.ToResult(), [], messages);
        var (manifest, invalid) = reader.Validate(body!);
        if (invalid is not null) return (invalid.ToResult(), [], messages);

        var now = clock.GetUtcNow();
        var (verdicts, context) = await registrar.JudgeAsync(manifest!, caller, session, ct);
        var outcome = await AppStream.DecideAsync(app, null, "resubmit", caller, now,
            a => Decide(a, manifest!, caller, verdicts, now, context.Intent), session.DocumentStore, ct);
        if (outcome.Problem is not null || outcome.After is not { } after) return (outcome.Response, outcome.Events, messages);

        registrar.Count(after, manifest!, verdicts);
        if (after.ExpiresAt is { } expiresAt && after.Status == AppStatus.Active) messages.Schedule(new Expiring.ExpireApp(after.Id), expiresAt);
        return (registrar.Answer(after, outcome.Version, verdicts, StatusCodes.Status200OK), outcome.Events, messages);
    }
}
