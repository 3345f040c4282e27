using Npgsql;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// The one connection pool for reading the ledger's tables directly (audit queries, the chain, the
/// app directory, usage counters). A wrapper rather than a bare NpgsqlDataSource so that nothing
/// else in the container picks it up by accident.
/// </summary>
public sealed class LedgerDatabase(IConfiguration configuration) : IAsyncDisposable
{
    public NpgsqlDataSource Source { get; } = NpgsqlDataSource.Create(configuration.GetConnectionString("Ledger")!);

    public ValueTask DisposeAsync() => Source.DisposeAsync();
}
