using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.DataProxy;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>
/// The data proxy's minted login, leaked and used directly against PostgreSQL: it reads no column the
/// app was not granted and no row whose region it chose itself.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Leaked_credential_tests(LedgerFixture ledger)
{
    private static readonly DatasetRequest[] Grant = [new("customers", ["customer_id", "name", "region", "segment"])];

    private async Task<AppLogin> LeakedLoginAsync()
    {
        var appId = await ledger.ServedApp(ExampleManifest(NewAppId("leak")).With("scopes", Strings("read:customers"))
            .With("connectors", Strings("postgres:salesdb")).With("datasets", Datasets(("customers", Grant[0].Fields.ToArray()))));
        // One proxied query, so the proxy mints and uses its login; then the login is taken as an attacker would have it.
        var served = await ledger.Post("/data/customers/query", """{"fields":["customer_id","region"],"limit":5}""", await ledger.AppToken(appId, "EMEA"));
        served.Status.ShouldBe(200, served.Text);
        served.Node("rows")!.AsArray().Count.ShouldBe(5);
        return await ledger.Host.Services.GetRequiredService<EphemeralCredentials>().LoginAsync(appId, "SalesDb", Grant, CancellationToken.None);
    }

    private static async Task<object?> Scalar(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    [Fact]
    public async Task A_leaked_login_reads_no_ungranted_column_and_no_row_of_a_region_it_sets_itself()
    {
        var login = await LeakedLoginAsync();
        await using var connection = await login.DataSource.OpenConnectionAsync();

        foreach (var sql in new[]
        {
            "select email from curated.customers limit 1", "select phone from public.customers limit 1",
            "select * from curated.customers limit 1", "select count(*) from public.orders", "select count(*) from governed.context_key",
            "select count(*) from interactions", "select count(*) from public.customers", "select count(*) from public.sales_data"
        })
        {
            var denied = await Should.ThrowAsync<PostgresException>(() => Scalar(connection, sql));
            denied.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege, sql);
        }

        (await Scalar(connection, "select count(*) from curated.customers")).ShouldBe(0L);
        await Scalar(connection, "select set_config('app.region', 'NA', false)");
        (await Scalar(connection, "select count(*) from curated.customers")).ShouldBe(0L);
        await Scalar(connection, "select set_config('app.region_mac', repeat('0', 64), false)");
        (await Scalar(connection, "select count(*) from curated.customers")).ShouldBe(0L);
        (await Scalar(connection, "select governed.region()")).ShouldBe(DBNull.Value);
        // A genuine MAC made for another login does not carry over: the MAC binds the region to the session's own login.
        await Scalar(connection, $"select set_config('app.region_mac', '{login.Context.Mac("NA", "app_some_other_login")}', false)");
        (await Scalar(connection, "select count(*) from curated.customers")).ShouldBe(0L);
        (await Scalar(connection, "select governed.region()")).ShouldBe(DBNull.Value);
        // What the proxy itself sets for this very login does work: the MAC is the only difference.
        await Scalar(connection, $"select set_config('app.region_mac', '{login.Context.Mac("NA", login.Role)}', false)");
        (await Scalar(connection, "select count(*) from curated.customers")).ShouldBe(100L);
    }

    [Fact]
    public async Task The_login_needs_its_password_over_tcp()
    {
        var login = await LeakedLoginAsync();
        var guessed = new NpgsqlConnectionStringBuilder(ledger.SalesConnectionString) { Username = login.Role, Password = "guessed", Pooling = false };
        await using var connection = new NpgsqlConnection(guessed.ConnectionString);
        var refused = await Should.ThrowAsync<PostgresException>(() => connection.OpenAsync());
        refused.SqlState.ShouldBe(PostgresErrorCodes.InvalidPassword);
    }

    [Fact]
    public async Task A_leaked_login_cannot_reach_the_ledger_database_nor_lock_the_app_out_by_changing_its_password()
    {
        var login = await LeakedLoginAsync();
        await using (var connection = await login.DataSource.OpenConnectionAsync())
            await Scalar(connection, "alter role current_user password 'taken-over'");
        var toLedger = new NpgsqlConnectionStringBuilder(ledger.ConnectionString) { Username = login.Role, Password = "taken-over", Pooling = false };
        await using (var ledgerConnection = new NpgsqlConnection(toLedger.ConnectionString))
            (await Should.ThrowAsync<PostgresException>(() => ledgerConnection.OpenAsync())).SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);

        // Once its idle connections are gone, the proxy finds its login refused, mints another and keeps serving the app.
        login.DataSource.Clear();
        var served = await ledger.Post("/data/customers/query", """{"fields":["customer_id"],"limit":1}""", await ledger.AppToken(login.AppId, "EMEA"));
        served.Status.ShouldBe(200, served.Text);
        served.Node("rows")!.AsArray().Count.ShouldBe(1);
    }
}
