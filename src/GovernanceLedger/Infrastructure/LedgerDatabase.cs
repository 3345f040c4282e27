using Npgsql;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// The one connection pool for reading the ledger's tables directly (audit queries, the chain, the
/// app directory, usage counters). A wrapper rather than a bare NpgsqlDataSource so that nothing
/// else in the container picks it up by accident.
/// </summary>
public sealed class LedgerDatabase(IConfiguration configuration) : IAsyncDisposable
{
    public NpgsqlDataSource Source { get; } = NpgsqlDataSource.Create(
        new NpgsqlConnectionStringBuilder(LedgerSetup.WithPreparedStatements(configuration.GetConnectionString("Ledger")!)) { ApplicationName = "ledger-shared" }.ConnectionString);

    /// <summary>
    /// The hash chain's reads of new events and its writes of links: a pool of its own, so PostgreSQL's views
    /// (pg_stat_activity, the benchmark's CPU by backend) tell the chain's share from the rest.
    /// </summary>
    public NpgsqlDataSource Chain { get; } = NpgsqlDataSource.Create(
        new NpgsqlConnectionStringBuilder(LedgerSetup.WithPreparedStatements(configuration.GetConnectionString("Ledger")!))
            { MaxPoolSize = 4, ApplicationName = "ledger-chain" }.ConnectionString);

    /// <summary>The full connection string, password included (a data source's own copy leaves it out).</summary>
    public string ConnectionString { get; } = configuration.GetConnectionString("Ledger")!;

    /// <summary>The connection budget of expensive reads (audit pages, exports, verify): small, so they never starve the rest.</summary>
    public NpgsqlDataSource Reads { get; } = NpgsqlDataSource.Create(
        new NpgsqlConnectionStringBuilder(configuration.GetConnectionString("Ledger")!) { MaxPoolSize = 12, ApplicationName = "ledger-reads" }.ConnectionString);

    /// <summary>
    /// The data plane's group commit: a few connections of its own, whose sessions carry no state between batches, so
    /// nothing is reset on their return to the pool (with prepared statements, a reset is three more statements per batch).
    /// </summary>
    public NpgsqlDataSource Writes { get; } = NpgsqlDataSource.Create(
        new NpgsqlConnectionStringBuilder(LedgerSetup.WithPreparedStatements(configuration.GetConnectionString("Ledger")!))
            { MaxPoolSize = 8, NoResetOnClose = true, ApplicationName = "ledger-access-writer" }.ConnectionString);

    /// <summary>Two connections of its own for /health, which must answer while everything else is busy.</summary>
    public NpgsqlDataSource Health { get; } = NpgsqlDataSource.Create(
        new NpgsqlConnectionStringBuilder(configuration.GetConnectionString("Ledger")!) { MaxPoolSize = 2, ApplicationName = "ledger-health" }.ConnectionString);

    public async ValueTask DisposeAsync()
    {
        await Source.DisposeAsync();
        await Chain.DisposeAsync();
        await Reads.DisposeAsync();
        await Writes.DisposeAsync();
        await Health.DisposeAsync();
    }
}
