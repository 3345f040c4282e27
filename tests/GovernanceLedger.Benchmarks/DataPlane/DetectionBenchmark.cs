using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace GovernanceLedger.Benchmarks.DataPlane;

/// <summary>
/// Detection lag: from the request that makes an app's error rate cross the detector's line to the first request
/// the gateway refuses as throttled, for each of several apps in turn, on a ledger host of its own.
/// </summary>
public static class DetectionBenchmark
{
    public static async Task RunAsync(int apps)
    {
        using var http = new HttpClient();
        await using var host = await BenchHost.StartAsync("detection", http);
        var baseUrl = host.BaseUrl;
        async Task<JsonNode> Post(string path, string json, string? token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, baseUrl + path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {body}");
            return JsonNode.Parse(body)!;
        }
        async Task<(int Status, string Body)> Get(string path, string token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, baseUrl + path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        var owner = (await Post("/dev/tokens", """{"sub":"bench@example.com","roles":["app-owner"]}""", null))["access_token"]!.GetValue<string>();
        var reviewer = (await Post("/dev/tokens", """{"sub":"bench.reviewer@example.com","roles":["security-reviewer"]}""", null))["access_token"]!.GetValue<string>();
        var tokens = new List<string>();
        for (var i = 0; i < apps; i++)
        {
            var id = $"detect-bench-{i}";
            await Post("/apps", $$$"""{"app_id":"{{{id}}}","owner":"bench@example.com","scopes":["read:contacts"],"connectors":["crm:contacts"],"quotas":{"requests_per_day":100000,"requests_per_second":1000}}""", owner);
            await Post($"/apps/{id}/approvals", """{"decision":"approve","reason":"load test quotas"}""", reviewer);
            tokens.Add((await Post($"/apps/{id}/tokens", """{"expires_in":3600}""", owner))["access_token"]!.GetValue<string>());
        }
        await Task.Delay(1500);   // the app directory picks the apps up

        var lags = new List<double>();
        foreach (var token in tokens)
        {
            for (var i = 0; i < 50; i++) await Get("/gw/crm/contacts?limit=1", token);
            for (var i = 0; i < 4; i++) await Get("/gw/crm/no-such-path", token);
            // The fifth failure makes 5 of 55: the error-rate detector's line (above 2% of at least 50) is crossed here.
            await Get("/gw/crm/no-such-path", token);
            var onset = Stopwatch.GetTimestamp();
            while (true)
            {
                var (status, body) = await Get("/gw/crm/contacts?limit=1", token);
                if (status == 429 && body.Contains("throttled", StringComparison.Ordinal)) break;
                if (Stopwatch.GetElapsedTime(onset) > TimeSpan.FromSeconds(60)) throw new TimeoutException("No throttle within 60 s.");
                await Task.Delay(10);
            }
            lags.Add(Stopwatch.GetElapsedTime(onset).TotalMilliseconds);
        }
        lags.Sort();
        double At(double q) => lags[(int)Math.Min(lags.Count - 1, Math.Ceiling(q * lags.Count) - 1)];
        Console.WriteLine($"Detection lag, error-rate onset to throttle enforced at the gateway, {apps} apps one after another:");
        Console.WriteLine($"  p50 {At(0.50):N0} ms   p99 {At(0.99):N0} ms   max {lags[^1]:N0} ms   (target p99 <= 5,000 ms)");
    }
}
