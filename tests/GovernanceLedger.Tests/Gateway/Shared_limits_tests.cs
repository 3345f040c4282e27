using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Alba;
using GovernanceLedger.DataPlane;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>Two instances of the ledger on one database serve one app: its budgets are one budget, not one each.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Shared_limits_tests(LedgerFixture ledger)
{
    private static async Task<(int Status, JsonNode? Body)> Send(IAlbaHost host, HttpMethod method, string path, string token, string? json = null)
    {
        using var client = host.Server.CreateClient();
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.StartsWith('{') ? JsonNode.Parse(text) : null);
    }

    private async Task<IAlbaHost> SecondInstanceServing(string appId)
    {
        var second = await LedgerFixture.StartHostAsync(ledger.ConnectionString, "Development", ledger.Clock, ledger.DataPlaneSettings());
        // Serving once its app directory knows the app.
        var directory = second.Services.GetRequiredService<AppDirectory>();
        // Loaded: the first read of the catalog has finished (an app can be found before it has, and requests are refused until then).
        await LedgerFixture.EventuallyAsync(() => Task.FromResult(directory.Loaded && directory.Find(appId) is { Status: "active" }), TimeSpan.FromSeconds(10));
        return second;
    }

    [Fact]
    public async Task A_daily_request_quota_and_a_row_budget_hold_across_two_instances()
    {
        var appId = await ledger.DataApp("shared", new JsonObject { ["requests_per_day"] = 30, ["requests_per_second"] = 1000 });
        var token = await ledger.AppToken(appId, "EMEA");
        var rowsApp = await ledger.DataApp("sharedrows", new JsonObject { ["rows_per_day"] = 25, ["requests_per_second"] = 1000 });
        var rowsToken = await ledger.AppToken(rowsApp, "EMEA");
        await using var second = await SecondInstanceServing(rowsApp);
        var hosts = new[] { ledger.Host, second };

        // Every request alternates between the instances; each alone would allow 30.
        var statuses = new List<int>();
        for (var i = 0; i < 40; i++)
            statuses.Add((await Send(hosts[i % 2], HttpMethod.Get, "/gw/crm/contacts?limit=1", token)).Status);
        statuses.Count(s => s == 200).ShouldBe(30, string.Join(",", statuses));
        statuses.Skip(30).ShouldAllBe(s => s == 429);

        // Rows: 25 a day in all, whichever instance serves the query.
        var rows = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            var (status, body) = await Send(hosts[i % 2], HttpMethod.Post, "/data/customers/query", rowsToken, """{"fields":["customer_id"],"limit":10}""");
            rows.Add(status == 200 ? body!["rows"]!.AsArray().Count : -status);
        }
        rows.ShouldBe([10, 10, 5, -429]);
    }

    [Fact]
    public async Task Instances_share_the_per_second_rate_and_a_stopped_instance_hands_back_what_it_claimed()
    {
        var appId = await ledger.DataApp("sharedrate", new JsonObject { ["requests_per_day"] = 500, ["requests_per_second"] = 1000 });
        var token = await ledger.AppToken(appId, "EMEA");
        var limits = ledger.Host.Services.GetRequiredService<UsageLimits>();
        var second = await SecondInstanceServing(appId);
        await LedgerFixture.EventuallyAsync(() => Task.FromResult(limits.Instances == 2), TimeSpan.FromSeconds(10));

        // Each instance claims a lease of a fiftieth of the day's 500 and spends one request of it.
        (await Send(ledger.Host, HttpMethod.Get, "/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        (await Send(second, HttpMethod.Get, "/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        (await Used(appId)).ShouldBe(2 * UsageLimits.LeaseSize(500));

        await second.StopAsync();
        await second.DisposeAsync();
        // The stopped instance's unused nine went back: only its one request and the first instance's lease are used.
        (await Used(appId)).ShouldBe(1 + UsageLimits.LeaseSize(500));
        await LedgerFixture.EventuallyAsync(() => Task.FromResult(limits.Instances == 1), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task The_next_lease_is_claimed_ahead_once_less_than_half_of_one_is_left()
    {
        var appId = await ledger.DataApp("claimahead", new JsonObject { ["requests_per_day"] = 500, ["requests_per_second"] = 1000 });
        var token = await ledger.AppToken(appId, "EMEA");
        var lease = UsageLimits.LeaseSize(500);

        // Half a lease spent: half is left, and nothing more is claimed.
        for (var i = 0; i < lease / 2; i++)
            (await Send(ledger.Host, HttpMethod.Get, "/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        (await Used(appId)).ShouldBe(lease);

        // One more and less than half is left: the next lease is claimed before any request has to wait for it.
        (await Send(ledger.Host, HttpMethod.Get, "/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        await LedgerFixture.EventuallyAsync(async () => await Used(appId) == 2 * lease, TimeSpan.FromSeconds(10));
        (await Used(appId)).ShouldBe(2 * lease);
    }

    [Fact]
    public async Task A_lost_day_counter_is_recounted_from_the_ledger_counting_each_served_query_once()
    {
        var appId = await ledger.DataApp("recount", new JsonObject { ["requests_per_day"] = 10_000, ["requests_per_second"] = 1000 });
        var token = await ledger.AppToken(appId, "EMEA");
        for (var i = 0; i < 3; i++)
            (await Send(ledger.Host, HttpMethod.Get, "/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        for (var i = 0; i < 2; i++)
            (await Send(ledger.Host, HttpMethod.Post, "/data/customers/query", token, """{"fields":["customer_id"],"limit":1}""")).Status.ShouldBe(200);
        // One refused request, which the quota does not count.
        (await Send(ledger.Host, HttpMethod.Post, "/data/customers/query", token, """{"fields":["nope"]}""")).Status.ShouldBe(400);

        // The day's counter row is lost: the next instance to claim starts from the allowed requests the ledger holds,
        // the gateway's access events and the queries that carry their request, each once.
        await using (var connection = new NpgsqlConnection(ledger.ConnectionString))
        {
            await connection.OpenAsync();
            await using var delete = new NpgsqlCommand("delete from ledger.quota_counters where app_id = $1", connection);
            delete.Parameters.Add(new NpgsqlParameter { Value = appId });
            await delete.ExecuteNonQueryAsync();
        }
        await using var second = await SecondInstanceServing(appId);
        (await Send(second, HttpMethod.Get, "/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        (await Used(appId)).ShouldBe(5 + UsageLimits.LeaseSize(10_000));
    }

    private async Task<long> Used(string appId)
    {
        await using var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select used from ledger.quota_counters where app_id = $1 and kind = 'requests'", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = appId });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Usage_billed_by_two_instances_at_once_adds_up_to_every_request_each_served()
    {
        var appId = await ledger.DataApp("sharedusage", new JsonObject { ["requests_per_day"] = 10_000, ["requests_per_second"] = 1000 });
        var token = await ledger.AppToken(appId, "EMEA");
        await using var second = await SecondInstanceServing(appId);
        var hosts = new[] { ledger.Host, second };

        // Both instances commit the same app's day at the same moments: neither may overwrite the other's count.
        var statuses = await Task.WhenAll(Enumerable.Range(0, 80).Select(i => Send(hosts[i % 2], HttpMethod.Get, "/gw/crm/contacts?limit=1", token)));
        statuses.ShouldAllBe(s => s.Status == 200);

        await using var query = ledger.Host.Services.GetRequiredService<Marten.IDocumentStore>().QuerySession();
        var usage = await query.LoadAsync<GovernanceLedger.Projections.Chargeback.UsageDay>(
            GovernanceLedger.Projections.Chargeback.UsageDay.IdFor(appId, ledger.Clock.GetUtcNow()));
        usage!.Requests.ShouldBe(80);
        usage.Bytes.ShouldBe((await ledger.AccessEvents(appId)).OfType<GovernanceLedger.Contracts.Access.AccessRecorded>().Sum(e => e.BytesOut));
    }
}
