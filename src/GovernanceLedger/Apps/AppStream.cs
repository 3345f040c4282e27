using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.DataPlane;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Wolverine.Marten;

namespace GovernanceLedger.Apps;

/// <summary>
/// Load an app's history, fold it, let a pure decision speak, append what it decided at the version
/// it was decided on. Two decisions racing on one app cannot both land: the loser gets 409.
/// </summary>
public static class AppStream
{
    /// <summary>The app's current state and stream version, or null when no such app is in the ledger.</summary>
    public static async Task<(App? App, long Version)> LoadAsync(IQuerySession session, string appId, CancellationToken ct)
    {
        var history = await session.Events.FetchStreamAsync(appId, token: ct);
        return history.Count == 0 ? (null, 0) : (App.Replay(history.Select(e => e.Data)), history[^1].Version);
    }

    /// <summary>
    /// The gate every lifecycle command passes, given the stream Wolverine fetched for writing. An app the caller
    /// may not see answers exactly like one that does not exist; a stale expected_version is checked only after
    /// that, so it never reveals an app; every refusal on a real app is recorded on its timeline. The events it
    /// returns are appended by Wolverine at the version the decision was made on: a racing writer gets 409.
    /// </summary>
    public static async Task<AppOutcome> DecideAsync(
        IEventStream<App> stream, long? expectedVersion, string action, Caller caller, DateTimeOffset now,
        Func<App, Decision> decide, IDocumentStore store, CancellationToken ct)
    {
        var (app, version) = (stream.Aggregate, stream.StartingVersion ?? 0);
        if (app is null)
            return new AppOutcome(null, 0, [], Problem.NoSuchApp(stream.Key ?? ""));
        var problem = !caller.MaySee(app.Owner) ? Problem.NoSuchApp(app.Id)
            : expectedVersion is { } expected && expected != version ? Problem.Conflict("stale-version",
                $"expected_version is {expected} but the app is at version {version}; reload it and decide again.")
            : null;
        var decision = problem is null ? decide(app) : Decision.Refuse(problem);
        if (decision.Problem is { } refused)
        {
            await RecordRefusalAsync(store, app.Id, action, refused, caller, now, ct);
            return new AppOutcome(app, version, [], refused);
        }
        return new AppOutcome(App.Replay(decision.Events, app), version + decision.Events.Count, [.. decision.Events], null);
    }

    /// <summary>
    /// Refusals go to the app's per-day governance stream, not its lifecycle stream, so they never move its
    /// version. They are committed on their own, before the refusal is answered; refusals racing on the same
    /// stream are retried, so a burst of them is recorded whole and never turns into an error.
    /// </summary>
    public static Task RecordRefusalAsync(
        IDocumentStore store, string appId, string action, Problem refused, Caller caller, DateTimeOffset now, CancellationToken ct) =>
        AppendWithRetryAsync(store, GovernanceStreams.For(appId, now), new GovernanceActionRefused(appId, action,
            refused.Errors.FirstOrDefault()?.Rule ?? (refused.Status == StatusCodes.Status404NotFound ? "not-visible" : "refused"),
            StrictJson.Bounded(refused.Detail, 512), caller.Actor, now), ct);

    /// <summary>Appends one event to a shared per-day stream, retrying when another writer got the same version first.</summary>
    public static async Task AppendWithRetryAsync(IDocumentStore store, string streamId, object @event, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var session = store.LightweightSession();
                session.Events.Append(streamId, @event);
                await session.SaveChangesAsync(ct);
                return;
            }
            catch (Exception e) when (attempt < 8 && AccessLedger.IsConcurrentAppend(e))
            {
                await Task.Delay(Random.Shared.Next(1, 10 * attempt), ct);
            }
        }
    }
}

/// <summary>Refused governance actions on an app, one stream per app per day, so its timeline shows them.</summary>
public static class GovernanceStreams
{
    public static string For(string appId, DateTimeOffset at) => $"governance:{appId}:{at.UtcDateTime:yyyy-MM-dd}";

    /// <summary>Refusals by a named policy, which are decided before any app is looked at: one stream per day.</summary>
    public static string Ledger(DateTimeOffset at) => $"governance-ledger:{at.UtcDateTime:yyyy-MM-dd}";
}

/// <summary>What a lifecycle command came to: the events to append and the answer for the caller.</summary>
public sealed record AppOutcome(App? After, long Version, Events Events, Problem? Problem)
{
    /// <summary>The refusal, or the app's new status and stream version.</summary>
    public IResult Response => Problem?.ToResult()
        ?? Results.Ok(new AppStateResponse(After!.Id, After.Status, Version, After.ExpiresAt, After.Approvers, After.RequiredApprovals));
}

public sealed record AppStateResponse(
    string AppId, string Status, long Version, DateTimeOffset? ExpiresAt, IReadOnlyList<string> Approvers, int RequiredApprovals);
