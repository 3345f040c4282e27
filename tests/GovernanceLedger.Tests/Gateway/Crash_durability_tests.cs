using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using Microsoft.Extensions.DependencyInjection;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>
/// Runs the real host as a separate process, drives traffic through its gateway, kills it with
/// SIGKILL mid-stream, restarts it, and checks that every response a client received has its
/// access event in the ledger.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Crash_durability_tests(LedgerFixture ledger, Xunit.Abstractions.ITestOutputHelper output)
{
    private Process StartHost(int port, string? journal) => ChildHost.Start(ledger, port,
        settings: journal is null ? null : new Dictionary<string, string> { ["DataPlane__Journal"] = journal });

    private static int FreePort() => ChildHost.FreePort();

    private static Task WaitHealthy(HttpClient client, Process process) => ChildHost.WaitHealthy(client, process);

    private static async Task<string> ChildAppToken(HttpClient client, string appId)
    {
        using var person = await client.PostAsync("/dev/tokens", new StringContent("""{"sub":"crash.user@example.com","region":"EMEA","groups":["test-end-users"]}""", System.Text.Encoding.UTF8, "application/json"));
        var personToken = JsonNode.Parse(await person.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/apps/{appId}/tokens");
        request.Headers.Authorization = new("Bearer", personToken);
        using var issued = await client.SendAsync(request);
        var body = await issued.Content.ReadAsStringAsync();
        issued.IsSuccessStatusCode.ShouldBeTrue(body);
        return JsonNode.Parse(body)!["access_token"]!.GetValue<string>();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Killing_the_host_during_traffic_loses_no_access_event_for_a_served_response(bool journal)
    {
        // With a journal, a response waits for its event's flush to the journal, and the restarted host appends what the
        // killed one had not yet put in the ledger before it serves.
        var journalDirectory = journal ? Directory.CreateTempSubdirectory("govledger-crash-journal-").FullName : null;
        var appId = await ledger.DataApp(journal ? "crash-journal" : "crash", new JsonObject { ["requests_per_second"] = 100_000, ["requests_per_day"] = 100_000_000 });
        var port = FreePort();
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };

        var host = StartHost(port, journalDirectory);
        var served = new ConcurrentBag<string>();
        try
        {
            await WaitHealthy(client, host);
            // The child process runs on the machine's clock (the suite's may have travelled), so its
            // own development issuer and token endpoint provide the tokens it will check.
            client.DefaultRequestHeaders.Authorization = new("Bearer", await ChildAppToken(client, appId));
            await ledger.Eventually(async () => (await client.GetAsync("/gw/crm/contacts?limit=1")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(10));

            using var stop = new CancellationTokenSource();
            var workers = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        using var response = await client.GetAsync("/gw/crm/contacts?limit=1", stop.Token);
                        var body = await response.Content.ReadAsStringAsync(stop.Token);
                        if (response.StatusCode == HttpStatusCode.OK && body.StartsWith('['))
                            served.Add(response.Headers.GetValues("X-Request-Id").Single());
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                    {
                        if (host.HasExited) return;   // the host is gone: nothing more can be served
                    }
                }
            })).ToList();

            // Killed mid-stream, once a good number of requests were answered (and many more are in flight).
            await ledger.Eventually(() => Task.FromResult(served.Count >= 200), TimeSpan.FromSeconds(60));
            host.Kill(entireProcessTree: true);   // SIGKILL: no shutdown hooks, no flush
            await host.WaitForExitAsync();
            var servedBeforeKill = served.Count;
            stop.CancelAfter(TimeSpan.FromSeconds(2));
            await Task.WhenAll(workers);
            served.Count.ShouldBe(servedBeforeKill);
            servedBeforeKill.ShouldBeGreaterThan(50, "traffic should have flowed before the kill");
        }
        finally
        {
            if (!host.HasExited) host.Kill(entireProcessTree: true);
        }

        // Restart on the same ledger and count served responses against recorded events.
        var restarted = StartHost(port, journalDirectory);
        try
        {
            await WaitHealthy(client, restarted);
            var all = (await ledger.AccessEvents(appId, DateTimeOffset.UtcNow)).OfType<AccessRecorded>()
                .Where(a => a.Decision == AccessDecisions.Allow && a.Status == 200).Select(a => a.RequestId).ToList();
            var recorded = all.ToHashSet();
            all.Count.ShouldBe(recorded.Count, "no access event is in the ledger twice");
            var missing = served.Where(id => !recorded.Contains(id)).ToList();
            output.WriteLine($"served before SIGKILL: {served.Count}; allowed access events recorded: {recorded.Count}; missing: {missing.Count}");
            missing.ShouldBeEmpty($"{missing.Count} of {served.Count} served responses have no access event");
            (await client.GetAsync("/gw/crm/contacts?limit=1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        finally
        {
            restarted.Kill(entireProcessTree: true);
            await restarted.WaitForExitAsync();
            if (journalDirectory is not null) Directory.Delete(journalDirectory, recursive: true);
        }
    }
}
