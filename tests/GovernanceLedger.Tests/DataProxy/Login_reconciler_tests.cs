using GovernanceLedger.Contracts.Access;
using GovernanceLedger.DataProxy;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>
/// Logins a stopped or crashed process left at a data source: the reconciler drops exactly this ledger's
/// leftovers and records each, and touches nothing live, in flight, or someone else's.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Login_reconciler_tests(LedgerFixture ledger)
{
    private async Task Sql(string sql)
    {
        await using var connection = new NpgsqlConnection(ledger.SalesConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<bool> Exists(string role)
    {
        await using var connection = new NpgsqlConnection(ledger.SalesConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select count(*) from pg_roles where rolname = $1", connection) { Parameters = { new() { Value = role } } };
        return (long)(await command.ExecuteScalarAsync())! == 1;
    }

    private static string Role(string slug, DateTimeOffset minted) =>
        $"app_{slug}_{minted.UtcDateTime:yyyyMMddHHmmss}_{Convert.ToHexStringLower(Guid.NewGuid().ToByteArray())[..6]}";

    [Fact]
    public async Task Leftover_logins_are_dropped_and_recorded_while_live_in_flight_and_foreign_ones_stay()
    {
        var credentials = ledger.Host.Services.GetRequiredService<EphemeralCredentials>();
        var reconciler = ledger.Host.Services.GetRequiredService<LoginReconciler>();
        var tag = credentials.OwnerTag.Replace("'", "''");
        var now = ledger.Clock.GetUtcNow();
        string Until(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ssZ");

        // Minted and recorded by a process that then stopped: it ran out, and its expiry was never recorded.
        var stopped = Role("stopped_app", now.AddMinutes(-30));
        await Sql($"create role {stopped} login valid until '{Until(now.AddMinutes(-15))}'; comment on role {stopped} is '{tag}'");
        await using (var session = ledger.Host.Services.GetRequiredService<Marten.IDocumentStore>().LightweightSession())
        {
            session.Events.Append(EphemeralCredentials.StreamFor("stopped-app"),
                new DatabaseCredentialMinted("stopped-app", stopped, "app_grp_stopped_app", now.AddMinutes(-15), "data-proxy", now.AddMinutes(-30)));
            await session.SaveChangesAsync();
        }
        // Created at the source, then the process died before recording it: still valid for a while.
        var unrecorded = Role("crashed_app", now.AddMinutes(-5));
        await Sql($"create role {unrecorded} login valid until '{Until(now.AddMinutes(10))}'; comment on role {unrecorded} is '{tag}'");
        // Another instance's mint in flight: created a moment ago, its event not committed yet.
        var inFlight = Role("busy_app", now);
        await Sql($"create role {inFlight} login valid until '{Until(now.AddMinutes(15))}'; comment on role {inFlight} is '{tag}'");
        // Someone else's: another ledger's login with the same name shape, and a DBA's own role.
        var foreign = Role("other_ledger", now.AddMinutes(-30));
        await Sql($"create role {foreign} login valid until '{Until(now.AddMinutes(-15))}'; comment on role {foreign} is 'govledger login minted by the ledger at elsewhere:5432/ledger'");
        var dbas = $"app_reporting_{Convert.ToHexStringLower(Guid.NewGuid().ToByteArray())[..6]}";
        await Sql($"create role {dbas} login valid until '{Until(now.AddMinutes(-15))}'");

        var done = await reconciler.ReconcileAsync(CancellationToken.None);

        (await Exists(stopped)).ShouldBeFalse();
        (await Exists(unrecorded)).ShouldBeFalse();
        (await Exists(inFlight)).ShouldBeTrue();
        (await Exists(foreign)).ShouldBeTrue();
        (await Exists(dbas)).ShouldBeTrue();
        (await ledger.StreamOf(EphemeralCredentials.StreamFor("stopped-app"))).Select(e => e.Data).OfType<DatabaseCredentialExpired>()
            .ShouldContain(e => e.Role == stopped && e.Actor == "ledger-reconciler");
        (await ledger.StreamOf(LoginReconciler.StreamId)).Select(e => e.Data).OfType<DatabaseLoginOrphanRemoved>()
            .ShouldContain(e => e.Role == unrecorded && e.Source == "SalesDb");
        done.Count.ShouldBeGreaterThanOrEqualTo(2);

        // Once the grace has passed with still no record, the in-flight one was an orphan after all.
        ledger.Clock.Advance(LoginReconciler.Grace + TimeSpan.FromSeconds(1));
        await reconciler.ReconcileAsync(CancellationToken.None);
        (await Exists(inFlight)).ShouldBeFalse();
        (await ledger.StreamOf(LoginReconciler.StreamId)).Select(e => e.Data).OfType<DatabaseLoginOrphanRemoved>().ShouldContain(e => e.Role == inFlight);
        await Sql($"drop role {foreign}; drop role {dbas}");
    }

    [Fact]
    public async Task A_login_the_proxy_holds_is_never_taken_for_a_leftover()
    {
        var credentials = ledger.Host.Services.GetRequiredService<EphemeralCredentials>();
        var appId = await ledger.ServedApp(Scenarios.ExampleManifest(Scenarios.NewAppId("heldlogin")).With("scopes", Scenarios.Strings("read:customers"))
            .With("connectors", Scenarios.Strings("postgres:salesdb")).With("datasets", Scenarios.Datasets(("customers", ["customer_id", "region"]))));
        (await ledger.Post("/data/customers/query", """{"fields":["customer_id"],"limit":1}""", await ledger.AppToken(appId, "EMEA"))).Status.ShouldBe(200);
        var held = credentials.HeldRoles().Where(r => r.Contains("heldlogin")).ToList();
        held.ShouldNotBeEmpty();
        await ledger.Host.Services.GetRequiredService<LoginReconciler>().ReconcileAsync(CancellationToken.None);
        foreach (var role in held) (await Exists(role)).ShouldBeTrue();
    }
}
