using GovernanceLedger.Infrastructure;
using Marten;

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

    public static async Task<AppDecision> DecideAsync(
        IDocumentSession session, string appId, long? expectedVersion, Func<App, Decision> decide, CancellationToken ct)
    {
        var (app, version) = await LoadAsync(session, appId, ct);
        if (app is null)
            return new AppDecision(null, null, 0, [], Problem.NotFound($"No app with app_id '{appId}' is in the ledger."));
        if (expectedVersion is { } expected && expected != version)
            return new AppDecision(app, null, version, [], Problem.Conflict("stale-version",
                $"expected_version is {expected} but the app is at version {version}; reload it and decide again."));

        var decision = decide(app);
        if (decision.Problem is { } problem)
            return new AppDecision(app, null, version, [], problem);
        if (decision.Events.Count == 0)
            return new AppDecision(app, app, version, [], null);

        // Marten refuses the commit if another writer appended since we read: a conflict, never a lost update.
        var after = version + decision.Events.Count;
        session.Events.Append(appId, after, decision.Events.ToArray());
        return new AppDecision(app, App.Replay(decision.Events, app), after, decision.Events, null);
    }

    /// <summary>The common answer to a lifecycle command: the app's new status and stream version.</summary>
    public static async Task<IResult> RespondAsync(
        IDocumentSession session, string appId, long? expectedVersion, Func<App, Decision> decide, CancellationToken ct)
    {
        var (_, after, version, _, problem) = await DecideAsync(session, appId, expectedVersion, decide, ct);
        return problem is not null
            ? problem.ToResult()
            : Results.Ok(new AppStateResponse(after!.Id, after.Status, version, after.ExpiresAt, after.Approvers, after.RequiredApprovals));
    }
}

public sealed record AppDecision(App? Before, App? After, long Version, IReadOnlyList<object> Events, Problem? Problem);

public sealed record AppStateResponse(
    string AppId, string Status, long Version, DateTimeOffset? ExpiresAt, IReadOnlyList<string> Approvers, int RequiredApprovals);
