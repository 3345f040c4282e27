using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Operations.Detecting;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Operations;

/// <summary>Detectors watch each app's traffic against its baseline; the ledger throttles, then pauses, and says why.</summary>
/// <summary>A ledger whose detectors run: its apps are watched, so no other test's traffic shares it.</summary>
public sealed class DetectionFixture : LedgerFixture
{
    protected override bool Detectors => true;

    /// <summary>What the ledger posted to its notification webhook.</summary>
    public ConcurrentQueue<JsonObject> Webhook { get; } = new();
    public string MailDirectory { get; } = Path.Combine(Path.GetTempPath(), $"ledger-mail-{Guid.NewGuid():N}");
    private WebApplication? _receiver;

    public override async Task InitializeAsync()
    {
        var receiver = WebApplication.CreateSlimBuilder();
        receiver.WebHost.UseUrls("http://127.0.0.1:0");
        _receiver = receiver.Build();
        _receiver.MapPost("/hooks/ledger", async (HttpRequest request) =>
        {
            Webhook.Enqueue((await JsonNode.ParseAsync(request.Body))!.AsObject());
            return Results.Accepted();
        });
        await _receiver.StartAsync();
        await base.InitializeAsync();
    }

    public override Dictionary<string, string?> DataPlaneSettings()
    {
        var settings = base.DataPlaneSettings();
        settings["Notifications:WebhookUrl"] = _receiver!.Urls.First() + "/hooks/ledger";
        settings["Notifications:MailDirectory"] = MailDirectory;
        return settings;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_receiver is not null) await _receiver.DisposeAsync();
        if (Directory.Exists(MailDirectory)) Directory.Delete(MailDirectory, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class DetectionCollection : ICollectionFixture<DetectionFixture>
{
    public const string Name = "detection";
}

[Collection(DetectionCollection.Name)]
public sealed class Anomaly_detection_tests(DetectionFixture ledger)
{
    private async Task Requests(string token, int count, string path = "/gw/crm/contacts?limit=1")
    {
        for (var i = 0; i < count; i++) await ledger.Get(path, token);
    }

    private async Task<IReadOnlyList<object>> Timeline(string appId) => (await ledger.StreamOf(appId)).Select(e => e.Data).ToList();

    [Fact]
    public async Task A_runaway_app_at_ten_times_its_baseline_is_throttled_then_paused_each_step_on_its_timeline_with_evidence()
    {
        var appId = await ledger.DataApp("runaway", new JsonObject { ["requests_per_second"] = 1000, ["requests_per_day"] = 100_000 });
        var owner = await ledger.PersonToken(Owner, "app-owner");
        // Ten quiet minutes of two requests each make the baseline.
        for (var minute = 0; minute < 10; minute++)
        {
            await Requests(await ledger.AppToken(appId), 2);
            ledger.Clock.Advance(TimeSpan.FromMinutes(1));
        }
        await ledger.Eventually(async () => (await ledger.Get($"/ops/apps/{appId}", owner)).Node("baseline.minutes")?.GetValue<int>() >= 9,
            TimeSpan.FromSeconds(15));

        // Then thirty in one minute: fifteen times the baseline.
        var token = await ledger.AppToken(appId);
        await Requests(token, 30);
        await ledger.Eventually(async () => (await Timeline(appId)).OfType<AppThrottled>().Any(), TimeSpan.FromSeconds(15));
        var detected = (await Timeline(appId)).OfType<AnomalyDetected>().ShouldHaveSingleItem();
        detected.PolicyId.ShouldBe("detect-requests-surge");
        detected.Metric.ShouldBe("requests");
        detected.Value.ShouldBeGreaterThanOrEqualTo(21);
        detected.Baseline.ShouldBeInRange(1.5, 2.5);
        detected.Action.ShouldBe("throttle");
        var throttled = (await Timeline(appId)).OfType<AppThrottled>().Single();
        throttled.RequestsPerSecond.ShouldBe(1);
        throttled.Actor.ShouldBe("ledger");

        // Every instance's gateway holds the app to its throttle within a second, and says why.
        var ops = await ledger.Get($"/ops/apps/{appId}", owner);
        ops.Node("throttle.requests_per_second")!.GetValue<int>().ShouldBe(1);
        await ledger.Eventually(async () =>
        {
            var answers = new List<ApiResponse>();
            for (var i = 0; i < 5; i++) answers.Add(await ledger.Get("/gw/crm/contacts?limit=1", token));
            return answers.Any(a => a.Status == 429 && a.Text.Contains("anomaly"));
        }, TimeSpan.FromSeconds(5));

        // The surge goes on in the next minute, throttled or not: the ledger pauses the app.
        ledger.Clock.Advance(TimeSpan.FromSeconds(61));
        token = await ledger.AppToken(appId);
        await Requests(token, 30);
        await ledger.Eventually(async () => (await ledger.Get($"/apps/{appId}", owner)).Str("status") == AppStatus.Paused, TimeSpan.FromSeconds(15));
        var timeline = await Timeline(appId);
        timeline.OfType<AnomalyDetected>().Select(a => a.Action).ShouldBe(["throttle", "pause"]);
        var paused = timeline.OfType<AppPaused>().Single();
        paused.Actor.ShouldBe("ledger");
        paused.BySecurity.ShouldBeTrue();
        // While throttled, the surge goes on and most requests are refused: either detector may be the one that pauses.
        var pausing = timeline.OfType<AnomalyDetected>().Last();
        pausing.PolicyId.ShouldBeOneOf("detect-requests-surge", "detect-denials-burst");
        paused.Reason.ShouldContain(pausing.PolicyId);
        // Only a reviewer lifts it.
        (await ledger.Post($"/apps/{appId}/resume", """{"reason":"it was me"}""", owner)).Status.ShouldBe(403);

        // The owner and security heard of both steps: on the webhook, and as mail in the drop directory.
        await ledger.Eventually(() => Task.FromResult(ledger.Webhook.Count(w => w["app_id"]!.GetValue<string>() == appId) == 2), TimeSpan.FromSeconds(10));
        var notices = ledger.Webhook.Where(w => w["app_id"]!.GetValue<string>() == appId).ToList();
        notices.Select(n => n["kind"]!.GetValue<string>()).ShouldBe(["app-throttle", "app-pause"], ignoreOrder: true);
        notices.ShouldAllBe(n => n["to"]!.AsArray().Select(t => t!.GetValue<string>()).SequenceEqual(new[] { Owner, "security@example.com" }));
        notices.ShouldAllBe(n => n["body"]!.GetValue<string>().Contains("Detector: detect-"));
        await ledger.Eventually(() => Task.FromResult(Directory.Exists(ledger.MailDirectory)
            && Directory.GetFiles(ledger.MailDirectory, "*.eml").Count(f => File.ReadAllText(f).Contains($"X-Ledger-App: {appId}")) == 2), TimeSpan.FromSeconds(10));
        var mail = Directory.GetFiles(ledger.MailDirectory, "*.eml").Select(File.ReadAllText).First(m => m.Contains($"X-Ledger-App: {appId}") && m.Contains("paused"));
        mail.ShouldContain($"To: {Owner}, security@example.com");
        mail.ShouldContain($"Metric: {pausing.Metric} over {pausing.Window}");
    }

    [Fact]
    public async Task Reading_a_PII_field_the_app_never_read_before_is_an_alert_on_its_timeline_that_tells_owner_and_security_and_slows_nothing()
    {
        var appId = await ledger.DataApp("firstpii", new JsonObject { ["requests_per_second"] = 1000, ["requests_per_day"] = 100_000 });
        var owner = await ledger.PersonToken(Owner, "app-owner");
        async Task Query(string token, params string[] fields)
        {
            var body = new JsonObject { ["fields"] = new JsonArray(fields.Select(f => (JsonNode)f).ToArray()), ["limit"] = 2 };
            var answer = await ledger.Post("/data/customers/query", body.ToJsonString(), token);
            answer.Status.ShouldBe(200, answer.Text);
        }
        // Ten minutes of reading e-mail addresses: learned as the app's normal while it warms up.
        for (var minute = 0; minute < 10; minute++)
        {
            await Query(await ledger.AppToken(appId), "customer_id", "email");
            ledger.Clock.Advance(TimeSpan.FromMinutes(1));
        }
        // Nine minutes have ended; the first query below ends the tenth, and the app is warm.
        await ledger.Eventually(async () => (await ledger.Get($"/ops/apps/{appId}", owner)).Node("baseline.minutes")?.GetValue<int>() >= 9,
            TimeSpan.FromSeconds(15));
        var token = await ledger.AppToken(appId);
        await Query(token, "customer_id", "email");
        await Query(token, "customer_id", "email", "phone");
        await Query(token, "customer_id", "phone");

        await ledger.Eventually(async () => (await Timeline(appId)).OfType<AnomalyDetected>().Any(), TimeSpan.FromSeconds(15));
        var alert = (await Timeline(appId)).OfType<AnomalyDetected>().ShouldHaveSingleItem();
        alert.PolicyId.ShouldBe("detect-pii-first-read");
        alert.Action.ShouldBe("alert");
        alert.Metric.ShouldBe("pii");
        alert.Findings.ShouldBe(["first read of PII field customers.phone"]);
        alert.BaselineSource.ShouldBe("recent");
        // Nothing slows down: no throttle, still active, and the same minute's later batches add no second alert.
        (await Timeline(appId)).OfType<AppThrottled>().ShouldBeEmpty();
        var ops = await ledger.Get($"/ops/apps/{appId}", owner);
        ops.Str("status").ShouldBe("active");
        ops.Node("throttle").ShouldBeNull();
        ops.Node("pii_fields_read")!.AsArray().Select(f => f!.GetValue<string>()).ShouldBe(["customers.email", "customers.phone"]);
        ops.Node("baseline.latency_ms")!.GetValue<double>().ShouldBeGreaterThan(0);
        ops.Node("baseline.end_users_per_minute")!.GetValue<double>().ShouldBe(1, 0.01);
        ops.Node("baseline.bytes_per_minute")!.GetValue<double>().ShouldBeGreaterThan(0);
        ops.Str("baseline.source").ShouldBe("recent");
        await ledger.Eventually(() => Task.FromResult(ledger.Webhook.Any(w => w["app_id"]!.GetValue<string>() == appId)), TimeSpan.FromSeconds(10));
        var notice = ledger.Webhook.Single(w => w["app_id"]!.GetValue<string>() == appId);
        notice["kind"]!.GetValue<string>().ShouldBe("app-alert");
        notice["body"]!.GetValue<string>().ShouldContain("customers.phone");
        await Query(token, "customer_id", "phone");
        (await Timeline(appId)).OfType<AnomalyDetected>().Count().ShouldBe(1);
    }

    [Fact]
    public async Task An_error_rate_above_two_percent_over_fifty_requests_fires_without_any_baseline()
    {
        // A rebuild of every read model first: the detectors' baselines are rebuilt too, and detection carries on after it.
        var rebuilt = await ledger.Post("/admin/projections/rebuild", null, await ledger.PersonToken(Admin, "platform-admin"));
        rebuilt.Status.ShouldBe(200, rebuilt.Text);
        rebuilt.Text.ShouldContain("\"projection\":\"app-activity\"");

        var appId = await ledger.DataApp("errorspike", new JsonObject { ["requests_per_second"] = 1000, ["requests_per_day"] = 100_000 });
        var token = await ledger.AppToken(appId);
        await Requests(token, 50);
        await Requests(token, 5, "/gw/crm/no-such-path");   // 404s: five of fifty-five, 9%
        await ledger.Eventually(async () => (await Timeline(appId)).OfType<AnomalyDetected>().Any(), TimeSpan.FromSeconds(15));
        var detected = (await Timeline(appId)).OfType<AnomalyDetected>().First();
        detected.PolicyId.ShouldBe("detect-errors-spike");
        detected.Metric.ShouldBe("errors");
        detected.Value.ShouldBeGreaterThan(0.02);
        detected.Findings.ShouldHaveSingleItem().ShouldContain("answered 400 or above");
        await ledger.Eventually(async () => (await Timeline(appId)).OfType<AppThrottled>().Any(), TimeSpan.FromSeconds(10));
        var throttle = (await Timeline(appId)).OfType<AppThrottled>().Single();
        // Dashboards see the throttle in force, on this instance's gauge, once its directory has it.
        var scraped = "";
        for (var deadline = DateTime.UtcNow.AddSeconds(15); DateTime.UtcNow < deadline; await Task.Delay(100))
        {
            var scrape = await ledger.Send(HttpMethod.Get, "/metrics", null, LedgerFixture.ScrapeToken);
            scraped = $"HTTP {scrape.Status}, {scrape.Text.Length} chars\n" + string.Join("\n", scrape.Text.Split('\n').Where(l => l.Contains("ledger_app_")));
            if (scrape.Text.Split('\n').Any(l => l.StartsWith("ledger_app_throttle_requests_per_second{", StringComparison.Ordinal) && l.Contains($"app_id=\"{appId}\"")
                && l.EndsWith($"}} {throttle.RequestsPerSecond}", StringComparison.Ordinal))) break;
        }
        scraped.ShouldContain($"app_id=\"{appId}\"}} {throttle.RequestsPerSecond}");

        // Its scheduled end does nothing before its time; a security reviewer who does not own the app may lift it early.
        using (var scope = ledger.Host.Services.CreateScope())
            await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(new ThrottleExpired(appId, throttle.Until));
        (await Timeline(appId)).OfType<AppThrottleLifted>().ShouldBeEmpty();
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post($"/apps/{appId}/throttle/lift", """{"reason":"my fix is out"}""", owner)).Str("errors.0.rule").ShouldBe("security-reviewer");
        var reviewer = await ledger.PersonToken(SecondReviewer, "security-reviewer");
        (await ledger.Post($"/apps/{appId}/throttle/lift", "{}", reviewer)).Str("errors.0.field").ShouldBe("reason");
        var lifted = await ledger.Post($"/apps/{appId}/throttle/lift", """{"reason":"the upstream outage is over"}""", reviewer);
        lifted.Status.ShouldBe(200, lifted.Text);
        (await ledger.Post($"/apps/{appId}/throttle/lift", """{"reason":"again"}""", reviewer)).Str("errors.0.rule").ShouldBe("not-throttled");
        (await Timeline(appId)).OfType<AppThrottleLifted>().Single().Actor.ShouldContain(SecondReviewer);
        await ledger.Eventually(async () =>
        {
            var answers = new List<int>();
            for (var i = 0; i < 5; i++) answers.Add((await ledger.Get("/gw/crm/contacts?limit=1", token)).Status);
            return answers.All(a => a == 200);
        }, TimeSpan.FromSeconds(5));
        (await ledger.Get($"/ops/apps/{appId}", owner)).Node("throttle").ShouldBeNull();

        // What the shipped Prometheus alert rules read is what the ledger exports, labels included.
        async Task<List<string>> Scrape(string metric) => (await ledger.Send(HttpMethod.Get, "/metrics", null, LedgerFixture.ScrapeToken)).Text
            .Split('\n').Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) && l.Contains($"app_id=\"{appId}\"")).ToList();
        var counted = new List<string>();
        for (var deadline = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < deadline; await Task.Delay(100))
            if ((counted = await Scrape("ledger_anomalies_total")).Any(l => l.Contains("action=\"throttle\"") && l.Contains("policy_id=\"detect-errors-spike\""))) break;
        counted.ShouldContain(l => l.Contains("action=\"throttle\"") && l.Contains("policy_id=\"detect-errors-spike\""),
            string.Join("\n", (await ledger.Send(HttpMethod.Get, "/metrics", null, LedgerFixture.ScrapeToken)).Text.Split('\n').Where(l => l.Contains("ledger_a"))));
        (await Scrape("api_gateway_requests_total")).ShouldContain(l => l.Contains("status=\"404\""));
        var rules = File.ReadAllText(Path.Combine(AppContext.BaseDirectory[..AppContext.BaseDirectory.IndexOf("/tests/", StringComparison.Ordinal)],
            "deploy", "prometheus", "alerts.yml"));
        var dashboard = File.ReadAllText(Path.Combine(AppContext.BaseDirectory[..AppContext.BaseDirectory.IndexOf("/tests/", StringComparison.Ordinal)],
            "deploy", "grafana", "governance-ledger.json"));
        // The dashboard's panels need a proxied request's histogram and a dataset query's counters.
        (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        (await ledger.Post("/data/customers/query", """{"fields":["customer_id"],"limit":1}""", token)).Status.ShouldBe(200);
        // Every counter and histogram, and the month's cost (priced for every app each budget look); the throttle gauge was seen above.
        var names = System.Text.RegularExpressions.Regex.Matches(rules + dashboard, @"\b([a-z_]+_(total|bucket)|ledger_app_month_cost)\b").Select(m => m.Value)
            .Distinct().ToList();
        names.ShouldContain("ledger_app_month_cost");
        dashboard.ShouldContain("ledger_app_throttle_requests_per_second");
        names.Count.ShouldBeGreaterThanOrEqualTo(5);
        // The exporter caches a scrape for a moment: what was just counted shows on a later one.
        var missing = names;
        for (var deadline = DateTime.UtcNow.AddSeconds(10); missing.Count > 0 && DateTime.UtcNow < deadline; await Task.Delay(100))
        {
            var exported = (await ledger.Send(HttpMethod.Get, "/metrics", null, LedgerFixture.ScrapeToken)).Text;
            missing = names.Where(n => !exported.Contains(n + "{", StringComparison.Ordinal)).ToList();
        }
        missing.ShouldBeEmpty();
    }
}
