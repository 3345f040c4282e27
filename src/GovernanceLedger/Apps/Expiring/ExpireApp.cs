using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;

namespace GovernanceLedger.Apps.Expiring;

/// <summary>Scheduled (durably) for the moment an approval runs out.</summary>
public sealed record ExpireApp(string AppId);

public static class ExpireAppHandler
{
    /// <summary>
    /// Renewals schedule a fresh message rather than cancelling the old one, so an early or stale
    /// message simply finds the app not yet due and does nothing.
    /// </summary>
    public static Decision Decide(App app, DateTimeOffset now) =>
        app.Status is AppStatus.Active or AppStatus.Paused && app.IsExpiredAt(now)
            ? Decision.Accept(new AppExpired(app.Id, app.ExpiresAt!.Value, "ledger", now))
            : Decision.Accept();

    public static async Task Handle(ExpireApp message, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var (_, _, _, _, problem) = await AppStream.DecideAsync(session, message.AppId, null, "expire", Caller.Ledger, now, app => Decide(app, now), ct);
        if (problem is not null)
            throw new InvalidOperationException($"Could not expire app '{message.AppId}': {problem.Detail}");
    }
}
