using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using Shouldly;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>
/// Every data-plane request leaves an access record, including those no endpoint records itself: a path or method
/// routing refuses, a body the server cannot read, a client that closes the connection before the answer.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Every_request_recorded_tests(LedgerFixture ledger)
{
    [Theory]
    [InlineData("GET", "/data/sales_data/query", 405, "method-not-allowed")]
    [InlineData("DELETE", "/data/sales_data/query", 405, "method-not-allowed")]
    [InlineData("POST", "/data/sales_data/query.", 404, "no-such-path")]
    [InlineData("POST", "/data//sales_data/query", 404, "no-such-path")]
    [InlineData("POST", "/data/sales_data/query;x", 404, "no-such-path")]
    [InlineData("GET", "/gw", 404, "no-such-path")]
    public async Task A_data_plane_request_routing_refuses_is_recorded_against_the_app_of_its_token(string method, string path, int status, string rule)
    {
        var appId = await ledger.DataApp("unrouted");
        var token = await ledger.AppToken(appId, "EMEA");
        using var client = ledger.Host.Server.CreateClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent("""{"limit":1}""", Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await client.SendAsync(request);

        ((int)response.StatusCode).ShouldBe(status);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        problem["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe(rule);
        if (status == 405) response.Content.Headers.Allow.ShouldNotBeEmpty();
        var requestId = response.Headers.GetValues("X-Request-Id").Single();
        var record = (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().Single(a => a.RequestId == requestId);
        (record.AppId, record.Decision, record.Status, record.Method).ShouldBe((appId, AccessDecisions.Deny, status, method));
        record.Reason.ShouldStartWith(rule);
        record.TokenId.ShouldNotBeNullOrEmpty();
    }

    [Fact]
    public async Task An_unknown_dataset_is_recorded_against_the_app_of_a_valid_token()
    {
        var appId = await ledger.DataApp("unknownset");
        var token = await ledger.AppToken(appId, "EMEA");
        using var client = ledger.Host.Server.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/data/SALES_DATA/query") { Content = new StringContent("""{"limit":1}""", Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await client.SendAsync(request);
        ((int)response.StatusCode).ShouldBe(404);
        var requestId = response.Headers.GetValues("X-Request-Id").Single();
        var record = (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().Single(a => a.RequestId == requestId);
        (record.AppId, record.Decision, record.Status).ShouldBe((appId, AccessDecisions.Deny, 404));
        record.Reason.ShouldStartWith("unknown-dataset");
    }

    [Fact]
    public async Task A_served_querys_recorded_filter_values_are_cut_to_their_documented_size()
    {
        var appId = await ledger.DataApp("longvalue");
        var token = await ledger.AppToken(appId, "EMEA");
        var values = string.Join(",", Enumerable.Range(0, 50).Select(i => $"\"{new string('x', 100)}{i}\""));
        using var client = ledger.Host.Server.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/data/customers/query")
        {
            Content = new StringContent($$"""{"fields":["customer_id"],"filter":[{"field":"region","op":"in","value":[{{values}}]}],"limit":1}""", Encoding.UTF8, "application/json")
        };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await client.SendAsync(request);
        ((int)response.StatusCode).ShouldBe(200, await response.Content.ReadAsStringAsync());
        var requestId = response.Headers.GetValues("X-Request-Id").Single();
        var executed = (await ledger.AccessEvents(appId)).OfType<QueryExecuted>().Single(q => q.RequestId == requestId);
        executed.Filter.Single().Value!.Length.ShouldBe(AccessFieldSizes.FilterValue);
        executed.Filter.Single().Value!.ShouldStartWith(new string('x', 100) + "0,");
    }

    [Fact]
    public async Task A_routing_refusal_with_no_valid_token_is_recorded_as_unauthenticated_with_what_the_token_claimed()
    {
        using var client = ledger.Host.Server.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/data/sales_data/query");
        request.Headers.Authorization = new("Bearer", "not-a-token");
        using var response = await client.SendAsync(request);
        ((int)response.StatusCode).ShouldBe(405);
        var requestId = response.Headers.GetValues("X-Request-Id").Single();
        var record = (await ledger.AccessEvents(GovernanceLedger.DataPlane.Denial.Unauthenticated)).OfType<AccessRecorded>().Single(a => a.RequestId == requestId);
        (record.Decision, record.Status).ShouldBe((AccessDecisions.Deny, 405));
    }

    [Fact]
    public async Task An_unreadable_body_and_a_client_that_leaves_before_the_answer_are_recorded_on_a_real_server()
    {
        // A real server: a broken chunked encoding and a closed connection happen in Kestrel, not in an in-process host.
        var appId = await ledger.DataApp("unreadable");
        var port = ChildHost.FreePort();
        using var host = ChildHost.Start(ledger, port);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await ChildHost.WaitHealthy(client, host);
            var token = await ChildHost.AppTokenAsync(client, appId, "unreadable.user@example.com");
            // The host's app directory learns of the app on its first poll.
            await LedgerFixture.EventuallyAsync(async () =>
            {
                using var probe = new HttpRequestMessage(HttpMethod.Post, "/data/customers/query") { Content = new StringContent("""{"fields":["customer_id"],"limit":1}""", Encoding.UTF8, "application/json") };
                probe.Headers.Authorization = new("Bearer", token);
                using var answered = await client.SendAsync(probe);
                return answered.IsSuccessStatusCode;
            }, TimeSpan.FromSeconds(30));
            var today = DateTimeOffset.UtcNow;
            var before = (await ledger.AccessEvents(appId, today)).Count;

            // A chunk size that is not hexadecimal: the server cannot read the body the app was admitted with.
            var broken = await RawAsync(port, $"POST /data/customers/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n" +
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n{\"limit\":1}\r\nZZ\r\n", readAnswer: true);
            broken.ShouldStartWith("HTTP/1.1 400");
            var requestId = broken.Split("\r\n").Single(l => l.StartsWith("X-Request-Id:", StringComparison.OrdinalIgnoreCase))["X-Request-Id:".Length..].Trim();
            broken.ShouldContain("\"rule\":\"request\"");
            await LedgerFixture.EventuallyAsync(async () => (await ledger.AccessEvents(appId, today)).OfType<AccessRecorded>()
                .Any(a => a.RequestId == requestId && a is { Decision: AccessDecisions.Deny, Status: 400 }), TimeSpan.FromSeconds(10));
            // On the dataset's route, which the proxy knew before the server failed to read the body, not on the plane alone.
            (await ledger.AccessEvents(appId, today)).OfType<AccessRecorded>().Single(a => a.RequestId == requestId).Route.ShouldBe("data/customers");

            // A complete query, then the client closes its side: whether it was served or cut short, it is on the record.
            await RawAsync(port, $"POST /data/customers/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n" +
                "Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"limit\":1}", readAnswer: false);
            await LedgerFixture.EventuallyAsync(async () => (await ledger.AccessEvents(appId, today)).Count == before + 2, TimeSpan.FromSeconds(10));
        }
        finally
        {
            if (!host.HasExited) host.Kill(entireProcessTree: true);
        }
    }

    /// <summary>Sends bytes as they are; reads the answer, or closes the sending side at once and leaves.</summary>
    private static async Task<string> RawAsync(int port, string request, bool readAnswer)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, port);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        if (!readAnswer)
        {
            socket.Shutdown(SocketShutdown.Send);
            return "";
        }
        var answer = new StringBuilder();
        var buffer = new byte[8192];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!answer.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) || !answer.ToString().TrimEnd().EndsWith('}'))
        {
            var read = await socket.ReceiveAsync(buffer, timeout.Token);
            if (read == 0) break;
            answer.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }
        return answer.ToString();
    }
}
