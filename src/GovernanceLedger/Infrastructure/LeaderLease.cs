using Npgsql;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// Leadership of one background job across every instance of the ledger: a PostgreSQL session advisory
/// lock, named, held on a connection of its own outside the pool. Disposing the lease closes that session,
/// which is what releases the lock: a pooled connection would go back to the pool still holding it. The
/// session is checked every few seconds; if it is gone (a database restart, a network cut), the lock is
/// gone with it and <see cref="Lost"/> is cancelled, so the job stops before another instance takes over.
/// </summary>
public sealed class LeaderLease : IAsyncDisposable
{
    public static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(5);

    private readonly NpgsqlConnection _session;
    private readonly CancellationTokenSource _lost = new();
    private readonly Task _watch;

    private LeaderLease(NpgsqlConnection session, string name)
    {
        _session = session;
        Name = name;
        _watch = WatchAsync();
    }

    public string Name { get; }

    /// <summary>Cancelled when the session holding the lock is gone, or the lease is disposed.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>The lease when no other session holds it, else null (at once, without waiting).</summary>
    public static async Task<LeaderLease?> TryAcquireAsync(LedgerDatabase ledger, string name, CancellationToken ct)
    {
        var session = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ledger.ConnectionString)
        {
            Pooling = false, ApplicationName = $"govledger lease {name}", KeepAlive = 10
        }.ConnectionString);
        try
        {
            await session.OpenAsync(ct);
            await using var take = new NpgsqlCommand("select pg_try_advisory_lock(hashtext($1))", session)
                { Parameters = { new() { Value = $"govledger:{name}" } } };
            if (await take.ExecuteScalarAsync(ct) is true) return new LeaderLease(session, name);
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
        await session.DisposeAsync();
        return null;
    }

    private async Task WatchAsync()
    {
        try
        {
            while (!_lost.IsCancellationRequested)
            {
                await Task.Delay(CheckEvery, _lost.Token);
                await using var ping = new NpgsqlCommand("select 1", _session);
                await ping.ExecuteScalarAsync(_lost.Token);
            }
        }
        catch (OperationCanceledException) when (_lost.IsCancellationRequested)
        {
        }
        catch (Exception)
        {
            // The session is gone, and the lock with it.
            await _lost.CancelAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _lost.CancelAsync();
        await _watch;
        await _session.DisposeAsync();
        _lost.Dispose();
    }
}
