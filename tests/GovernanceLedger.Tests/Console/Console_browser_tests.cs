using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Console;

/// <summary>
/// The web console in a real browser: headless Chromium (Debian's package, which the test script installs) driven by
/// Playwright, against the host as a process of its own on a real port. One host and one browser for the class.
/// </summary>
public sealed class ConsoleBrowser(LedgerFixture ledger) : IAsyncLifetime
{
    public Process Host { get; private set; } = null!;
    public string BaseUrl { get; private set; } = "";
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var port = ChildHost.FreePort();
        BaseUrl = $"http://127.0.0.1:{port}";
        // Export pages of 2 events, so the console's CSV export is seen to follow the cursor through many pages.
        Host = ChildHost.Start(ledger, port, settings: new Dictionary<string, string> { ["Console__ExportPageSize"] = "2" });
        Http = new HttpClient { BaseAddress = new Uri(BaseUrl) };
        await ChildHost.WaitHealthy(Http, Host);
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        var executable = Environment.GetEnvironmentVariable("GOVLEDGER_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";
        if (!File.Exists(executable))
            throw new InvalidOperationException($"Chromium is not at {executable}: ./scripts/test.sh installs Debian's chromium package (or set GOVLEDGER_CHROMIUM).");
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = executable, Headless = true, Args = ["--no-sandbox"] });
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
        Http.Dispose();
        if (!Host.HasExited) Host.Kill(entireProcessTree: true);
        await Host.WaitForExitAsync();
        Host.Dispose();
    }

    /// <summary>A people token from the host's development issuer, for setting the scene through the API.</summary>
    public async Task<string> Token(JsonObject person)
    {
        using var response = await Http.PostAsync("/dev/tokens", new StringContent(person.ToJsonString(), Encoding.UTF8, "application/json"));
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
    }

    public async Task<JsonNode?> Call(HttpMethod method, string path, string? token, JsonNode? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return text.Length > 0 ? JsonNode.Parse(text) : null;
    }

    /// <summary>Signs in through the console's own flow (authorization code with PKCE at the development issuer) as this person.</summary>
    public async Task<IPage> SignedInPage(string email, string[] roles, int width = 1280, int height = 900, string? groups = null, string? region = null)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = BaseUrl, ViewportSize = new ViewportSize { Width = width, Height = height }, AcceptDownloads = true });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/console");
        await page.WaitForURLAsync(url => url.Contains("/dev/oidc/authorize"));
        await page.FillAsync("#email", email);
        foreach (var role in roles) await page.CheckAsync($"input[name=role][value={role}]");
        if (groups is not null) await page.FillAsync("#groups", groups);
        if (region is not null) await page.FillAsync("#region", region);
        await page.CheckAsync("input[name=mfa]");
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(url => url.EndsWith("/console", StringComparison.Ordinal));
        return page;
    }
}

[Collection(LedgerCollection.Name)]
public sealed class Console_browser_tests(LedgerFixture ledger) : IAsyncLifetime
{
    private readonly ConsoleBrowser _console = new(ledger);

    public Task InitializeAsync() => _console.InitializeAsync();
    public Task DisposeAsync() => _console.DisposeAsync();

    private static async Task Shot(IPage page, string name)
    {
        // Set GOVLEDGER_SCREENSHOTS to a folder (docs/screenshots) to refresh the pictures the README shows.
        if (Environment.GetEnvironmentVariable("GOVLEDGER_SCREENSHOTS") is { Length: > 0 } folder)
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(folder, name + ".png"), FullPage = true });
    }

    [Fact]
    public async Task A_reviewer_signs_in_approves_an_app_sees_its_timeline_and_finance_downloads_the_chargeback_csv()
    {
        // The scene: an agent-generated app that widened its template waits for two people.
        var owner = await _console.Token(new JsonObject { ["sub"] = Owner, ["roles"] = Strings("app-owner") });
        var appId = NewAppId("console-review");
        var manifest = new JsonObject
        {
            ["app_id"] = appId, ["owner"] = Owner, ["generated_by"] = "agent", ["template"] = "sales-lookup",
            ["purpose"] = "Call back customers about late orders",
            ["scopes"] = Strings("read:customers", "read:sales_data", "write:interactions", "read:pii"),
            ["connectors"] = Strings("postgres:salesdb"),
            ["datasets"] = Datasets(("customers", ["customer_id", "name", "region", "segment", "email"]), ("sales_data", ["order_id", "amount"]))
        };
        var registered = await _console.Call(HttpMethod.Post, "/apps", owner, manifest);
        registered!["status"]!.GetValue<string>().ShouldBe("pending_review", registered.ToJsonString());

        var page = await _console.SignedInPage(Reviewer, ["security-reviewer", "auditor"]);
        (await page.TextContentAsync("header .who"))!.ShouldContain(Reviewer);
        await page.FillAsync("input[name=q]", appId);
        await page.ClickAsync("form[role=search] button[type=submit]");
        (await page.Locator("table.apps tbody tr").CountAsync()).ShouldBe(1);
        await Shot(page, "catalog");

        await page.GotoAsync("/console/review");
        var card = page.Locator("article.review", new PageLocatorOptions { HasText = appId });
        (await card.Locator(".progress").TextContentAsync()).ShouldBe("0 of 2 approval(s)");
        (await card.Locator("dl.diff").TextContentAsync())!.ShouldContain("customers.email");
        await Shot(page, "review");
        await card.Locator("input[name=reason]").FillAsync("Purpose matches the template's team");
        await card.Locator("button[value=approve]").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done="));
        (await page.TextContentAsync("p.flash.ok"))!.ShouldContain("approval recorded; the app is now pending_review");
        (await page.Locator("article.review", new PageLocatorOptions { HasText = appId }).Locator(".progress").TextContentAsync()).ShouldBe("1 of 2 approval(s)");

        // The same person cannot approve twice: the API's refusal is shown as it is.
        var again = page.Locator("article.review", new PageLocatorOptions { HasText = appId });
        await again.Locator("input[name=reason]").FillAsync("Still fine");
        await again.Locator("button[value=approve]").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("error="));
        (await page.TextContentAsync("p.flash.error"))!.ShouldContain("different reviewer");

        // A form's way back stays on console pages: a path that climbs out of /console is not followed.
        var form = page.Context.APIRequest.CreateFormData();
        form.Set("__RequestVerificationToken", (await page.Locator("input[name=__RequestVerificationToken]").First.GetAttributeAsync("value"))!);
        form.Set("appId", appId);
        form.Set("decision", "approve");
        form.Set("reason", "once more");
        form.Set("back", "/console/../../evil");
        var climbed = await page.Context.APIRequest.PostAsync("/console/actions/decide", new APIRequestContextOptions { Form = form, MaxRedirects = 0 });
        climbed.Headers["location"].ShouldStartWith("/console/review?");

        await page.GotoAsync($"/console/apps/{appId}");
        var timeline = page.Locator("ol.timeline li");
        (await timeline.AllTextContentsAsync()).ShouldContain(t => t.Contains("approval_given"));
        // Each entry's summary names what the event says, whatever the casing of its fields.
        (await timeline.AllTextContentsAsync()).ShouldContain(t => t.Contains("approval_given") && t.Contains("reason: Purpose matches the template's team"));
        (await timeline.AllTextContentsAsync()).ShouldContain(t => t.Contains("intent_assessed"));
        await Shot(page, "app");

        // The export holds the whole trail, page after page (this host's export pages hold 2 events), in ledger order.
        var export = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("text=Export CSV"));
        using (var exported = new StreamReader(await export.CreateReadStreamAsync()))
        {
            var lines = (await exported.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            lines[0].ShouldStartWith("sequence,recorded_at,stream,version,type");
            lines.Count(l => l.StartsWith("sequence,", StringComparison.Ordinal)).ShouldBe(1);
            var sequences = lines.Skip(1).Select(l => long.Parse(l[..l.IndexOf(',')], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            sequences.Count.ShouldBeGreaterThan(4);
            var auditor = await _console.Token(new JsonObject { ["sub"] = "auditor@example.com", ["roles"] = Strings("auditor") });
            var fromApi = (await _console.Call(HttpMethod.Get,
                $"/audit/timeline?app_id={appId}&from={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(-30).ToString("O"))}&limit=5000", auditor))!["items"]!
                .AsArray().Select(i => i!["sequence"]!.GetValue<long>()).ToList();
            sequences.ShouldBe(fromApi.Where(s => s <= sequences[^1]).ToList());
        }


        // Security: the ledger verified from the console, with its latest signed checkpoint.
        await page.GotoAsync("/console/security");
        await page.ClickAsync("text=Verify the whole ledger now");
        await page.WaitForURLAsync(url => url.Contains("job="));
        await LedgerFixture.Eventually(async () =>
        {
            await page.ReloadAsync();
            return !(await page.TextContentAsync("section[aria-labelledby=ledger]"))!.Contains("Verify running");
        });
        (await page.TextContentAsync("section[aria-labelledby=ledger]"))!.ShouldContain("Verify done");
        (await page.TextContentAsync("section[aria-labelledby=ledger]"))!.ShouldContain(", intact");
        await Shot(page, "security");

        // Finance sets a budget through the API; the finance page shows it beside the chargeback.
        var month = DateTime.UtcNow.ToString("yyyy-MM");
        var financeToken = await _console.Token(new JsonObject { ["sub"] = "finance@example.com", ["roles"] = Strings("finance") });
        (await _console.Call(HttpMethod.Put, "/chargeback/budgets", financeToken, new JsonObject
        {
            ["scope"] = "cost_center", ["key"] = "CC-CONSOLE", ["month"] = month, ["amount"] = 250, ["reason"] = "console test budget"
        })).ShouldNotBeNull();
        var finance = await _console.SignedInPage("finance@example.com", ["finance"]);
        await finance.GotoAsync($"/console/finance?month={DateTime.UtcNow:yyyy-MM}&group_by=cost_center");
        (await finance.Locator("table.chargeback caption").TextContentAsync())!.ShouldContain("by cost center");
        (await finance.Locator("table.budgets").TextContentAsync())!.ShouldContain("CC-CONSOLE");
        // The chart library drew the chart (the table beside it holds the same figures).
        await finance.Locator("canvas[data-rendered=true]").First.WaitForAsync();
        await Shot(finance, "finance");
        var download = await finance.RunAndWaitForDownloadAsync(() => finance.ClickAsync("text=Download CSV"));
        using var csv = new StreamReader(await download.CreateReadStreamAsync());
        (await csv.ReadLineAsync()).ShouldStartWith("cost_center,requests,rows,megabytes,compute_seconds,amount_");

        // A builder finds datasets with their PII tags, and where one goes: the sanitized warehouse view and the hash on its e-mail.
        var builder = await _console.SignedInPage(Owner, ["app-owner"]);
        await builder.GotoAsync("/console/datasets");
        var customersRow = builder.Locator("table.datasets tbody tr", new() { Has = builder.Locator("a[href='/console/datasets/customers']") });
        (await customersRow.Locator(".field", new() { HasText = "email" }).First.TextContentAsync())!.ShouldContain("PII");
        (await customersRow.Locator(".field", new() { HasText = "region" }).First.TextContentAsync())!.ShouldNotContain("PII");
        await builder.ClickAsync("a[href='/console/datasets/customers']");
        var downstream = (await builder.Locator("main table").Last.TextContentAsync())!;
        downstream.ShouldContain("warehouse view");
        downstream.ShouldContain("customers_sanitized");
        downstream.ShouldContain("email_hash = sha256(email)");
        downstream.ShouldContain(appId);
        await Shot(builder, "lineage");
    }

    [Fact]
    public async Task The_console_needs_a_session_keeps_the_token_off_the_page_and_cannot_be_framed()
    {
        // Without a session every console page sends the browser to sign in; nothing is served.
        using (var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(_console.BaseUrl) })
        {
            using var response = await anonymous.GetAsync("/console/review");
            response.StatusCode.ShouldBe(System.Net.HttpStatusCode.Redirect);
            response.Headers.Location!.ToString().ShouldContain("/dev/oidc/authorize");
            response.Headers.Location!.ToString().ShouldContain("code_challenge_method=S256");
        }
        var page = await _console.SignedInPage("auditor@example.com", ["auditor"]);
        var response2 = await page.GotoAsync("/console");
        response2!.Headers["content-security-policy"].ShouldContain("frame-ancestors 'none'");
        var cookies = await page.Context.CookiesAsync();
        var session = cookies.Single(c => c.Name.StartsWith("govledger-console", StringComparison.Ordinal));
        session.HttpOnly.ShouldBeTrue();
        session.SameSite.ShouldBe(SameSiteAttribute.Lax);
        // Nothing a script on the page can reach holds a token.
        var reachable = await page.EvaluateAsync<string>("() => document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.documentElement.outerHTML");
        reachable.ShouldNotContain("eyJ");
        // Every console action needs the page's antiforgery token, even one that reads no form field (sign-out, verify).
        foreach (var action in new[] { "/console/signout", "/console/actions/verify", "/console/actions/decide" })
            (await page.Context.APIRequest.PostAsync(action, new APIRequestContextOptions { MaxRedirects = 0 })).Status.ShouldBe(400, action);
        (await page.GotoAsync("/console"))!.Url.ShouldEndWith("/console", customMessage: "still signed in after the forged sign-out");
        // The console calls the ledger where the host listens, whatever Host header the request names: a client naming its
        // own server gets neither the person's token sent there nor that server's answer relayed on the console's origin.
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            var elsewhere = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            using var spoofing = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = new Uri(_console.BaseUrl), Timeout = TimeSpan.FromSeconds(20) };
            foreach (var path in new[] { "/console/finance.csv?month=2026-11", "/console/apps/anything/timeline.csv" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                request.Headers.Host = $"127.0.0.1:{elsewhere}";
                request.Headers.Add("Cookie", string.Join("; ", cookies.Where(c => c.Name.StartsWith("govledger-console", StringComparison.Ordinal)).Select(c => $"{c.Name}={c.Value}")));
                using var answered = await spoofing.SendAsync(request);
                ((int)answered.StatusCode).ShouldBeOneOf([200, 403, 404], path);
                answered.Content.Headers.ContentType!.MediaType.ShouldBeOneOf(["text/csv", "application/problem+json", "text/plain"], path);
                listener.Pending().ShouldBeFalse($"{path} reached the server its Host header named");
            }
        }
        // A link cannot put its own words into the console's banners: only messages the console sealed are shown.
        await page.GotoAsync("/console/review?error=Your%20session%20expired%2C%20call%20555-0100");
        (await page.Locator("p.flash").CountAsync()).ShouldBe(0);
        // The sign-in accepts only the exact callback address, and a state.
        using (var raw = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(_console.BaseUrl) })
        {
            var challenge = "xDlN19GfdSN2qBxnjciH3qa84YRDUGimtLfKo1kntQo";
            foreach (var (redirect, state) in new[] { ($"{_console.BaseUrl}/console/signin-oidc#x", "s"), ($"{_console.BaseUrl.ToUpperInvariant()}/console/signin-oidc", "s"), ($"{_console.BaseUrl}/console/signin-oidc", "") })
            {
                using var refused = await raw.GetAsync($"/dev/oidc/authorize?client_id=governance-ledger-console&response_type=code&code_challenge_method=S256&code_challenge={challenge}&redirect_uri={Uri.EscapeDataString(redirect)}&state={state}");
                refused.StatusCode.ShouldBe(System.Net.HttpStatusCode.BadRequest, redirect + " " + state);
            }
        }
        // A callback that cannot complete ends on a page that says so.
        await page.GotoAsync("/console/signin-oidc?code=forged&state=forged");
        (await page.TextContentAsync("h1"))!.ShouldBe("Sign-in did not complete");
        await page.GotoAsync("/console");
        // Keyboard: the first Tab reaches "Skip to content".
        await page.Keyboard.PressAsync("Tab");
        (await page.EvaluateAsync<string>("() => document.activeElement.textContent")).ShouldBe("Skip to content");
        // At a phone's width the navigation and the catalog still fit.
        var phone = await _console.SignedInPage("auditor@example.com", ["auditor"], width: 390, height: 844);
        (await phone.EvaluateAsync<int>("() => document.documentElement.scrollWidth")).ShouldBeLessThanOrEqualTo(390);
        (await phone.Locator("nav[aria-label=Console] a").CountAsync()).ShouldBe(6);
        await Shot(phone, "catalog-phone");
    }

    [Fact]
    public async Task An_embedded_app_reads_data_only_through_the_console_and_cannot_reach_the_page_its_cookie_or_a_token()
    {
        // A sales-lookup app for the console-users group, approved.
        var owner = await _console.Token(new JsonObject { ["sub"] = Owner, ["roles"] = Strings("app-owner") });
        var appId = NewAppId("embedded");
        var registered = await _console.Call(HttpMethod.Post, "/apps/from-template/sales-lookup", owner,
            new JsonObject { ["app_id"] = appId, ["owner"] = Owner, ["audience"] = new JsonObject { ["groups"] = Strings("console-users") } });
        registered!["status"]!.GetValue<string>().ShouldBe("pending_review", registered.ToJsonString());
        var reviewer = await _console.Token(new JsonObject { ["sub"] = Reviewer, ["roles"] = Strings("security-reviewer") });
        (await _console.Call(HttpMethod.Post, $"/apps/{appId}/approvals", reviewer, new JsonObject { ["decision"] = "approve", ["reason"] = "lookup for sales" }))!
            ["status"]!.GetValue<string>().ShouldBe("active");

        var page = await _console.SignedInPage("seller@example.com", [], groups: "console-users", region: "EMEA");
        var messages = new List<string>();
        page.Console += (_, m) => messages.Add(m.Text);
        page.PageError += (_, e) => messages.Add("error: " + e);
        page.RequestFailed += (_, r) => messages.Add("failed: " + r.Url + " " + r.Failure);
        page.Response += (_, r) => messages.Add($"{r.Status} {r.Url}");
        await page.GotoAsync($"/apps/{appId}/embed");
        page.Url.ShouldEndWith($"/console/apps/{appId}/embed");
        (await page.Locator("#app-frame").CountAsync()).ShouldBe(1, await page.ContentAsync());
        var frame = page.FrameLocator("#app-frame");
        await frame.Locator("#look-up").ClickAsync(new LocatorClickOptions { Timeout = 10_000 });
        try
        {
            await frame.Locator("#results tbody tr").First.WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
        }
        catch (TimeoutException)
        {
            throw new Exception($"No rows. Frame status: {await frame.Locator("#status").TextContentAsync()}; host log: {string.Join(" | ", await page.Locator("#embed-log li").AllTextContentsAsync())}; console: {string.Join(" | ", messages)}; frame url: {string.Join(",", page.Frames.Select(f => f.Url))}");
        }
        (await frame.Locator("#results tbody tr td:nth-child(3)").AllTextContentsAsync()).ShouldAllBe(region => region == "EMEA", "row-level security holds for the person");
        await Shot(page, "embedded");

        // Inside the frame: no way into the page around it, no cookie, no storage, no network of its own, no token anywhere.
        var app = page.Frames.Single(f => f.Url.Contains("/embedded/"));
        (await app.EvaluateAsync<string>("() => { try { return parent.document.title; } catch (e) { return 'blocked:' + e.name; } }")).ShouldStartWith("blocked:");
        (await app.EvaluateAsync<string>("() => { try { return document.cookie; } catch (e) { return 'blocked:' + e.name; } }")).ShouldStartWith("blocked:");
        (await app.EvaluateAsync<string>("() => { try { return String(localStorage.length); } catch (e) { return 'blocked:' + e.name; } }")).ShouldStartWith("blocked:");
        (await app.EvaluateAsync<string>("async () => { try { await fetch('/apps'); return 'fetched'; } catch (e) { return 'blocked:' + e.name; } }")).ShouldStartWith("blocked:");
        (await app.EvaluateAsync<string>("() => document.documentElement.outerHTML")).ShouldNotContain("eyJ");
        (await page.EvaluateAsync<string>("() => document.cookie + JSON.stringify(localStorage) + document.documentElement.outerHTML")).ShouldNotContain("eyJ");

        // A message outside the contract is dropped by the host, and the backend refuses a post without the page's antiforgery token.
        await app.EvaluateAsync("() => parent.postMessage({ type: 'query', id: 'x1', dataset: 'customers; drop', fields: ['*'] }, '*')");
        await page.Locator("#embed-log li", new PageLocatorOptions { HasText = "dropped" }).WaitForAsync();
        var forged = await page.Context.APIRequest.PostAsync($"/console/embed/{appId}/query", new APIRequestContextOptions
        {
            DataObject = new { type = "query", id = "x2", dataset = "customers", fields = new[] { "customer_id" } }
        });
        forged.Status.ShouldBe(403);
    }
}
