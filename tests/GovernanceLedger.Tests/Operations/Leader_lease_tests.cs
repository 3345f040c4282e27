using GovernanceLedger.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GovernanceLedger.Tests.Operations;

/// <summary>Leadership of the chainer, relay, CDC and rebuilds: one holder, released for sure, and lost when its session is.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Leader_lease_tests(LedgerFixture ledger)
{
    private LedgerDatabase Database => ledger.Host.Services.GetRequiredService<LedgerDatabase>();

    [Fact]
    public async Task One_holder_at_a_time_and_disposing_releases_at_once()
    {
        var name = $"test-{Guid.NewGuid():N}";
        var first = await LeaderLease.TryAcquireAsync(Database, name, CancellationToken.None);
        first.ShouldNotBeNull();
        (await LeaderLease.TryAcquireAsync(Database, name, CancellationToken.None)).ShouldBeNull();
        await first.DisposeAsync();
        await using var second = await LeaderLease.TryAcquireAsync(Database, name, CancellationToken.None);
        second.ShouldNotBeNull();
    }

    [Fact]
    public async Task A_holder_whose_session_is_killed_learns_it_lost_and_another_takes_over()
    {
        var name = $"test-{Guid.NewGuid():N}";
        await using var holder = await LeaderLease.TryAcquireAsync(Database, name, CancellationToken.None);
        holder.ShouldNotBeNull();

        await using (var admin = new NpgsqlConnection(ledger.ConnectionString))
        {
            await admin.OpenAsync();
            await using var kill = new NpgsqlCommand("select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = $1", admin)
                { Parameters = { new() { Value = $"govledger lease {name}" } } };
            ((long)(await kill.ExecuteScalarAsync())!).ShouldBe(1);
        }

        await ledger.Eventually(() => Task.FromResult(holder.Lost.IsCancellationRequested), LeaderLease.CheckEvery * 3);
        await using var successor = await LeaderLease.TryAcquireAsync(Database, name, CancellationToken.None);
        successor.ShouldNotBeNull();
    }
}
