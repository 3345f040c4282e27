using GovernanceLedger.Infrastructure;
using Marten;

namespace GovernanceLedger.Security.KeyCustody;

/// <summary>
/// Before the host serves: retires keys an earlier version kept in the database, and makes sure each
/// purpose has a key. Then it polls the key store, so keys rotated by another instance are used and
/// published here within <see cref="KeySettings.RefreshInterval"/>. Polling rather than a file watcher:
/// inotify does not see changes made by other machines on a shared (network) directory.
/// </summary>
public sealed class KeyRingFollower(
    SigningKeys keys, LedgerDatabase ledger, IDocumentStore store, TimeProvider clock, KeySettings settings, ILogger<KeyRingFollower> logger)
    : BackgroundService
{
    public override async Task StartAsync(CancellationToken ct)
    {
        await RetireDatabaseKeys.RunAsync(ledger, store, clock, logger, ct);
        await keys.EnsureKeysAsync(ct);
        await base.StartAsync(ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(settings.RefreshInterval);
        while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
        {
            try
            {
                await keys.RefreshAsync(stop);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Reading the key store failed; keeping the keys loaded before");
            }
        }
    }
}
