using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Wolverine.Marten;

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

    public static async Task<Events> Handle(ExpireApp message, [WriteAggregate(Required = false)] IEventStream<App> app,
        IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        var outcome = await AppStream.DecideAsync(app, null, "expire", Caller.Ledger, clock.GetUtcNow(), a => Decide(a, clock.GetUtcNow()), store, ct);
        if (outcome.Problem is { } problem)
            throw new InvalidOperationException($"Could not expire app '{message.AppId}': {problem.Detail}");
        return outcome.Events;
    }
}
