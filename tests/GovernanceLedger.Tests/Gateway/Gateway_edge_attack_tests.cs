using System.Text;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using Microsoft.Extensions.DependencyInjection;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>A compromised micro app attacking the gateway: impersonation, path confusion, PII, upstream internals.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Gateway_edge_attack_tests(LedgerFixture ledger)
{
    private async Task<AccessRecorded> Recorded(string appId, string? requestId) =>
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().Single(e => e.RequestId == requestId);

    [Theory]
    [InlineData("/gw/plain/loud-headers", 200, false)]
    [InlineData("/gw/diag/loud-headers", 200, true)]
    [InlineData("/gw/diag/loud-headers?empty=1", 204, true)]
    public async Task An_upstream_passes_only_allowlisted_response_headers_and_never_the_ledgers_own(string path, int status, bool masked)
    {
        var appId = await ledger.DataApp("loud-upstream");
        using var client = ledger.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        // Without the PII scope the diag route's answers are masked.
        request.Headers.Authorization = new("Bearer", masked ? await ledger.AppToken(appId, "EMEA", "read:contacts") : await ledger.AppToken(appId));
        using var response = await client.SendAsync(request);

        ((int)response.StatusCode).ShouldBe(status, await response.Content.ReadAsStringAsync());
        var headers = response.Headers.Concat(response.Content.Headers).ToDictionary(h => h.Key, h => h.Value.ToList(), StringComparer.OrdinalIgnoreCase);
        // The access event's id, once, whatever id the upstream claimed.
        var id = headers["X-Request-Id"].ShouldHaveSingleItem();
        id.ShouldNotContain("upstream-chosen-id");
        (await Recorded(appId, id)).Status.ShouldBe(status);
        // Nothing that acts for the ledger's origin, names the upstream's internals or points at the upstream itself.
        foreach (var name in new[] { "Set-Cookie", "Strict-Transport-Security", "Alt-Svc", "Clear-Site-Data", "Access-Control-Allow-Origin",
                     "Access-Control-Allow-Credentials", "Content-Security-Policy", "Refresh", "X-Internal-Host", "Link", "Server" })
            headers.ShouldNotContainKey(name, $"{name}: {string.Join(", ", headers.GetValueOrDefault(name) ?? [])}");
        // Caching validators pass (an upstream's ETag only where the answer is not masked: it describes the unmasked body, and
        // could name what masking hides), the route's own extra header passes, and Location leads to the same place through the gateway.
        if (masked) headers.ShouldNotContainKey("ETag");
        else headers["ETag"].ShouldBe(["\"v1\""]);
        response.Headers.CacheControl.ShouldSatisfyAllConditions(c => c!.Private.ShouldBeTrue(), c => c!.MaxAge.ShouldBe(TimeSpan.FromSeconds(60)));
        headers["X-Total-Count"].ShouldBe(["50"]);
        response.Headers.Location!.ToString().ShouldBe(path.StartsWith("/gw/plain") ? "/gw/plain/contacts/7" : "/gw/diag/contacts/7");
    }

    [Theory]
    [InlineData("X-Total-Count", true)]
    [InlineData("x-ratelimit-remaining", true)]
    [InlineData("set-cookie", false)]
    [InlineData("X-REQUEST-ID", false)]
    [InlineData("Access-Control-Allow-Origin", false)]
    [InlineData("x-pii-step-up", false)]
    [InlineData("X-End-User", false)]
    [InlineData("X-Powered-By", false)]
    [InlineData("Strict-Transport-Security", false)]
    [InlineData("NEL", false)]
    [InlineData("Set-Login", false)]
    [InlineData("Report-To", false)]
    [InlineData("Permissions-Policy", false)]
    [InlineData("Link", false)]
    [InlineData("X-Total-Count ", false)]
    [InlineData("X-", false)]
    public void A_route_may_list_only_an_applications_own_x_headers(string name, bool listed) =>
        GovernanceLedger.Gateway.UpstreamHeaders.MayBeListedByRoute(name).ShouldBe(listed);

    [Theory]
    [InlineData("/contacts/7", "/gw/crm/contacts/7")]
    [InlineData("7", "/gw/crm/contacts/7")]
    [InlineData("http://127.0.0.1:5081/contacts?page=2", "/gw/crm/contacts?page=2")]
    [InlineData("HTTP://127.0.0.1:5081/contacts", "/gw/crm/contacts")]
    [InlineData("//127.0.0.1:5081/x", "/gw/crm/x")]
    [InlineData("http://127.0.0.1:5081", "/gw/crm")]
    [InlineData("/", "/gw/crm")]
    // Elsewhere, other spellings of the upstream's address, and ways out of the route: dropped.
    [InlineData("https://elsewhere.example/contacts", null)]
    [InlineData("//elsewhere.example/contacts", null)]
    [InlineData("http://127.0.0.1:5082/contacts", null)]
    [InlineData("http://localhost:5081/x", null)]
    [InlineData("http://[::1]:5081/x", null)]
    [InlineData("http://127.0.0.1.:5081/x", null)]
    [InlineData("http://user@127.0.0.1:5081/x", null)]
    [InlineData("https://127.0.0.1:5081/x", null)]
    [InlineData("ws://127.0.0.1:5081/x", null)]
    [InlineData("javascript:alert(1)", null)]
    [InlineData("/../../apps", "/gw/crm/apps")]
    [InlineData("/%2e%2e/%2e%2e/apps", "/gw/crm/apps")]
    [InlineData("/a%2Fb", null)]
    [InlineData("", null)]
    public void An_upstream_location_is_rewritten_under_the_route_or_dropped(string location, string? expected) =>
        GovernanceLedger.Gateway.UpstreamHeaders.LocationUnder(new GovernanceLedger.Gateway.GatewayRoute { Name = "crm", Upstream = "http://127.0.0.1:5081" },
            new Uri("http://127.0.0.1:5081/contacts/5"), location).ShouldBe(expected);

    [Theory]
    [InlineData("http://10.0.0.5/api", "/api/contacts/7", "/gw/crm/contacts/7")]
    [InlineData("http://10.0.0.5/api/", "http://10.0.0.5/api?x=1", "/gw/crm?x=1")]
    [InlineData("http://10.0.0.5/api", "/apiary/7", null)]
    [InlineData("http://10.0.0.5/api", "/other/7", null)]
    [InlineData("http://10.0.0.5/api", "http://10.0.0.5/api/../other", null)]
    public void An_upstream_with_a_base_path_has_its_locations_kept_only_under_that_path(string upstream, string location, string? expected) =>
        GovernanceLedger.Gateway.UpstreamHeaders.LocationUnder(new GovernanceLedger.Gateway.GatewayRoute { Name = "crm", Upstream = upstream }, null, location)
            .ShouldBe(expected);

    [Fact]
    public void Upstream_length_type_and_cache_headers_cannot_fail_the_answer_or_let_a_shared_cache_keep_it()
    {
        var route = new GovernanceLedger.Gateway.GatewayRoute { Name = "crm", Upstream = "http://127.0.0.1:5081" };
        Microsoft.AspNetCore.Http.HttpResponse Copied(Action<HttpResponseMessage> upstream)
        {
            // A body read from the network, as an upstream's is: its length is only what its header says.
            var message = new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new StreamContent(new System.IO.Pipelines.Pipe().Reader.AsStream()) };
            upstream(message);
            var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
            GovernanceLedger.Gateway.UpstreamHeaders.CopyResponse(message, context.Response, route);
            return context.Response;
        }

        // The length the body is read by, one value; a list or a negative one is none (the server would refuse it after the
        // record), and the body goes chunked.
        Copied(m => { m.Content.Headers.TryAddWithoutValidation("Content-Length", "88"); m.Content.Headers.TryAddWithoutValidation("Content-Length", "88"); })
            .Headers.ContentLength.ShouldBe(88);
        Copied(m => m.Content.Headers.TryAddWithoutValidation("Content-Length", "88, 5")).ContentLength.ShouldBeNull();
        Copied(m => m.Content.Headers.TryAddWithoutValidation("Content-Length", "-1")).ContentLength.ShouldBeNull();
        Copied(m => m.Content.Headers.TryAddWithoutValidation("Content-Length", "88")).ContentLength.ShouldBe(88);
        Copied(m => { m.Content.Headers.TryAddWithoutValidation("Content-Length", "88"); m.Headers.TransferEncodingChunked = true; }).ContentLength.ShouldBeNull();
        // A header sent once, sent twice: dropped rather than letting a reader pick one.
        Copied(m => { m.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json"); m.Content.Headers.TryAddWithoutValidation("Content-Type", "text/html"); })
            .Headers.ContainsKey("Content-Type").ShouldBeFalse();
        Copied(m => { m.Headers.TryAddWithoutValidation("Location", "/a"); m.Headers.TryAddWithoutValidation("Location", "http://evil.example/"); })
            .Headers.ContainsKey("Location").ShouldBeFalse();
        // Private always: every gateway request carries a token, and no shared cache may answer for the gateway.
        Copied(m => m.Headers.TryAddWithoutValidation("Cache-Control", "public, s-maxage=600, max-age=60")).Headers.CacheControl.ToString().ShouldBe("private, max-age=60");
        Copied(_ => { }).Headers.CacheControl.ToString().ShouldBe("private");
    }

    [Fact]
    public async Task A_client_that_closes_before_the_upstream_answers_is_recorded_as_499_refused_and_spends_no_quota()
    {
        const int perDay = 5;
        var appId = await ledger.DataApp("client-gone", new JsonObject { ["requests_per_second"] = 1_000, ["requests_per_day"] = perDay }, "write:contacts");
        // An upstream that takes the request and never answers.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var held = new List<System.Net.Sockets.TcpClient>();
        var accepting = Task.Run(async () =>
        {
            try { while (true) held.Add(await silent.AcceptTcpClientAsync()); }
            catch (Exception e) when (e is ObjectDisposedException or System.Net.Sockets.SocketException) { }
        });
        var port = ChildHost.FreePort();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(20) };
        var host = ChildHost.Start(ledger, port, settings: new Dictionary<string, string>
        {
            ["Gateway__Routes__0__Upstream"] = $"http://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}"
        });
        try
        {
            await ChildHost.WaitHealthy(client, host);
            client.DefaultRequestHeaders.Authorization = new("Bearer", await ChildHost.AppTokenAsync(client, appId, "gone.user@example.com"));
            for (var i = 0; i < perDay; i++)
            {
                using var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(400));
                await Should.ThrowAsync<OperationCanceledException>(() => client.GetAsync("/gw/crm/contacts?limit=1", giveUp.Token));
            }
            // One more that resets the connection halfway through its body: the read finds the connection reset.
            using (var raw = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
            {
                await raw.ConnectAsync(System.Net.IPAddress.Loopback, port);
                await raw.SendAsync(Encoding.ASCII.GetBytes(
                    $"POST /gw/crm/contacts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {client.DefaultRequestHeaders.Authorization}\r\n" +
                    "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":"));
                await Task.Delay(300);   // the scenario: the body stops coming, then the connection is reset
                raw.LingerState = new System.Net.Sockets.LingerOption(true, 0);
                raw.Close();
            }
            // A whole write the upstream took, whose answer the client did not wait for: it may have been applied, so it is not
            // refunded, and its record says so.
            using (var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(400)))
                await Should.ThrowAsync<OperationCanceledException>(() => client.PostAsync("/gw/crm/contacts",
                    new StringContent("""{"name":"Dana","email":"dana@example.com"}""", Encoding.UTF8, "application/json"), giveUp.Token));
            await ledger.Eventually(async () => (await ledger.AccessEvents(appId, DateTimeOffset.UtcNow)).OfType<AccessRecorded>().Count() == perDay + 2,
                TimeSpan.FromSeconds(15));
            var recorded = (await ledger.AccessEvents(appId, DateTimeOffset.UtcNow)).OfType<AccessRecorded>().ToList();
            recorded.Where(a => a.Method != "POST" || a.Reason.StartsWith("client-closed"))
                .ShouldAllBe(a => a.Status == 499 && a.Decision == AccessDecisions.Deny && a.Reason.StartsWith("client-closed"));
            recorded.Count(a => a.Decision == AccessDecisions.Deny).ShouldBe(perDay + 1);
            recorded.ShouldContain(a => a.Method == "POST" && a.Status == 499 && a.Decision == AccessDecisions.Allow && a.Reason.Contains("may have been applied"));
            // Nothing was served, so the day's quota is whole: the next request is not refused for it.
            using var next = new CancellationTokenSource(TimeSpan.FromMilliseconds(400));
            await Should.ThrowAsync<OperationCanceledException>(() => client.GetAsync("/gw/crm/contacts?limit=1", next.Token));
        }
        finally
        {
            host.Kill(entireProcessTree: true);
            await host.WaitForExitAsync();
            silent.Stop();
            foreach (var c in held) c.Dispose();
        }
    }

    [Fact]
    public async Task Client_sent_identity_and_forwarding_headers_never_reach_the_upstream_in_any_spelling()
    {
        var appId = await ledger.DataApp("spoof");
        var token = await ledger.AppToken(appId);
        var spoofed = new Dictionary<string, string>
        {
            ["X-App-Id"] = "evil-app", ["x-end-user"] = "ceo@example.com", ["X-Request-Id"] = "forged-request",
            ["Forwarded"] = "for=10.0.0.1;by=evil", ["X-Forwarded-For"] = "10.0.0.1", ["X-Forwarded-Host"] = "evil.example.com",
            ["X-Forwarded-Proto"] = "gopher", ["X-Real-IP"] = "10.0.0.2", ["X-Original-URL"] = "/responses",
            ["X-Rewrite-URL"] = "/responses", ["X-User"] = "ceo@example.com", ["X-Remote-User"] = "admin", ["True-Client-IP"] = "10.0.0.3",
            ["Cookie"] = "session=stolen", ["traceparent"] = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"
        };

        var echoed = await ledger.SendRaw(HttpMethod.Get, "/gw/diag/echo-headers", null, null, token, spoofed);

        echoed.Status.ShouldBe(200, echoed.Text);
        var seen = echoed.Json!.AsObject().ToDictionary(h => h.Key, h => h.Value!.GetValue<string>());
        seen["x-app-id"].ShouldBe(appId);
        seen["x-end-user"].ShouldStartWith("user-");
        seen["x-request-id"].ShouldBe(echoed.RequestId);
        foreach (var name in new[] { "forwarded", "x-forwarded-host", "x-real-ip", "x-original-url", "x-rewrite-url", "x-user", "x-remote-user", "true-client-ip", "cookie", "authorization" })
            seen.ShouldNotContainKey(name);
        seen.GetValueOrDefault("x-forwarded-proto").ShouldNotBe("gopher");
        seen.Values.ShouldAllBe(v => !v.Contains("evil") && !v.Contains("ceo@example.com") && !v.Contains("10.0.0."));
        // The request id the upstream saw is the access event's id.
        (await Recorded(appId, echoed.RequestId)).RequestId.ShouldBe(seen["x-request-id"]);
    }

    [Fact]
    public async Task A_header_value_with_a_control_character_is_not_passed_to_the_upstream()
    {
        var appId = await ledger.DataApp("ctl-header");
        var token = await ledger.AppToken(appId);

        var echoed = await ledger.SendRaw(HttpMethod.Get, "/gw/diag/echo-headers", null, null, token,
            new Dictionary<string, string> { ["Accept"] = "application/json\u0001x", ["Accept-Language"] = "en\u007f", ["User-Agent"] = "probe\tok" });

        echoed.Status.ShouldBe(200, echoed.Text);
        var seen = echoed.Json!.AsObject().ToDictionary(h => h.Key, h => h.Value!.GetValue<string>());
        seen.Values.ShouldAllBe(v => !v.Contains('\u0001') && !v.Contains('\u007f'));
        seen.ShouldNotContainKey("accept-language");
        // A tab is allowed inside a header value: that header passes (as whitespace).
        seen["user-agent"].ShouldMatch("^probe\\sok$");
    }

    [Fact]
    public async Task A_connection_upgrade_is_refused_and_recorded_never_tunnelled_to_the_upstream()
    {
        var appId = await ledger.DataApp("upgrade");
        var token = await ledger.AppToken(appId);

        var refused = await ledger.SendRaw(HttpMethod.Get, "/gw/diag/echo-headers", null, null, token,
            new Dictionary<string, string> { ["Connection"] = "Upgrade", ["Upgrade"] = "websocket", ["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ==", ["Sec-WebSocket-Version"] = "13" });

        refused.Status.ShouldBe(400, refused.Text);
        refused.Text.ShouldContain("upgrade-not-allowed");
        refused.Text.ShouldNotContain("x-app-id");   // the upstream's echo never came back
        var denial = await Recorded(appId, refused.RequestId);
        denial.Decision.ShouldBe(AccessDecisions.Deny);
        denial.Reason.ShouldStartWith("upgrade-not-allowed");
    }

    [Fact]
    public async Task A_route_that_does_not_exist_is_refused_on_the_timeline_of_the_app_that_asked()
    {
        var appId = await ledger.DataApp("route-probe");
        var token = await ledger.AppToken(appId);

        var probed = await ledger.Get("/gw/CRM/contacts", token);

        probed.Status.ShouldBe(404, probed.Text);
        probed.Text.ShouldContain("unknown-route");
        var denial = await Recorded(appId, probed.RequestId);
        (denial.Decision, denial.TokenId).ShouldBe((AccessDecisions.Deny, new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(token).Id));

        // A token that does not verify is recorded as unauthenticated, naming the app it claims to be.
        var claimed = $"{Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode("{\"alg\":\"RS256\",\"typ\":\"JWT\"}")}."
            + $"{Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode($"{{\"sub\":\"app:{appId}\"}}")}.c2lnbmF0dXJl";
        var forged = await ledger.Get("/gw/nosuch/contacts", claimed);
        forged.Status.ShouldBe(404, forged.Text);
        (await Recorded("unauthenticated", forged.RequestId)).ClaimedApp.ShouldBe($"app:{appId}");
    }

    [Fact]
    public async Task A_post_cannot_name_another_app_as_its_author()
    {
        var appId = await ledger.DataApp("author", null, "write:contacts");
        var token = await ledger.AppToken(appId);
        var created = await ledger.SendRaw(HttpMethod.Post, "/gw/crm/contacts",
            Encoding.UTF8.GetBytes("""{"name":"Eve","email":"eve@example.com"}"""), "application/json", token,
            new Dictionary<string, string> { ["X-App-Id"] = "spoofed-app" });
        created.Status.ShouldBe(201, created.Text);
        created.Str("created_by_app").ShouldBe(appId);
    }

    public static TheoryData<string, string, int> OutsideTheRoute => new()
    {
        { "GET", "/gw/crm/responses", 404 },                    // another route's data on the shared upstream
        { "GET", "/gw/crm/echo-headers", 404 },
        { "GET", "/gw/crm/contacts/../responses", 404 },
        { "GET", "/gw/crm/contacts/%2e%2e/responses", 404 },
        { "GET", "/gw/crm/contacts%2F..%2Fresponses", 404 },
        { "GET", "/gw/crm//responses", 404 },
        { "GET", "/gw/crm/contacts/1/../../responses", 404 },
        { "GET", "/gw/crm/contacts;/../responses", 404 },
        { "GET", "/gw/crm/contacts/1/extra", 404 },
        { "GET", "/gw/crm", 404 },
        { "DELETE", "/gw/crm/contacts/1", 405 },
        { "PUT", "/gw/crm/contacts", 405 },
    };

    [Theory]
    [MemberData(nameof(OutsideTheRoute))]
    public async Task A_path_the_route_does_not_declare_is_refused_and_recorded(string method, string path, int status)
    {
        var appId = await ledger.DataApp("confine");
        var token = await ledger.AppToken(appId, "EMEA", "read:contacts");

        var refused = await ledger.SendRaw(new HttpMethod(method), path, null, null, token);

        refused.Status.ShouldBe(status, refused.Text);
        refused.Text.ShouldNotContain("answer");   // no survey response leaked
        var denial = await Recorded(appId, refused.RequestId);
        denial.Decision.ShouldBe(AccessDecisions.Deny);
        denial.Status.ShouldBe(status);
        denial.Reason.ShouldStartWith(status == 404 ? "path-not-exposed" : "method-not-allowed");
    }

    [Fact]
    public async Task A_read_contacts_token_reads_contacts_but_not_survey_answers()
    {
        var appId = await ledger.DataApp("scoped");
        var token = await ledger.AppToken(appId, "EMEA", "read:contacts");
        (await ledger.Get("/gw/crm/contacts?limit=2", token)).Status.ShouldBe(200);
        var surveys = await ledger.Get("/gw/surveys/responses", token);
        surveys.Status.ShouldBe(403, surveys.Text);
        (await Recorded(appId, surveys.RequestId)).Decision.ShouldBe(AccessDecisions.Deny);
    }

    [Fact]
    public async Task PII_in_gateway_responses_is_masked_like_the_proxy_masks_it_unless_the_token_reads_pii()
    {
        var appId = await ledger.DataApp("gwpii");
        var plain = await ledger.AppToken(appId, "EMEA", "read:contacts");

        var masked = await ledger.Get("/gw/crm/contacts?limit=3", plain);
        masked.Status.ShouldBe(200, masked.Text);
        foreach (var contact in masked.Json!.AsArray())
        {
            contact!["email"]!.GetValue<string>().ShouldMatch(@"^c\*\*\*@example\.com$");
            contact["phone"]!.GetValue<string>().ShouldMatch(@"^\*\*\* \d{4}$");
            contact["name"]!.GetValue<string>().ShouldStartWith("Contact ");
        }
        (await Recorded(appId, masked.RequestId)).MaskedFields.ShouldBe(["email", "phone"]);

        // Nested and differently cased members are PII all the same.
        var nested = await ledger.Get("/gw/diag/contacts-nested", plain);
        nested.Status.ShouldBe(200, nested.Text);
        nested.Text.ShouldNotContain("contact1@example.com");
        nested.Text.ShouldNotContain("owner@example.com");

        var withPii = await ledger.AppToken(appId, "EMEA", "read:contacts", "read:pii");
        var clear = await ledger.Get("/gw/crm/contacts?limit=1", withPii);
        clear.Json!.AsArray()[0]!["email"]!.GetValue<string>().ShouldBe("contact1@example.com");
        (await Recorded(appId, clear.RequestId)).MaskedFields.ShouldBeNull();
    }

    [Fact]
    public async Task An_unmasked_answer_is_recorded_with_the_bytes_the_app_got_and_one_cut_short_or_too_long_is_refused()
    {
        var appId = await ledger.DataApp("whole-answers");
        var token = await ledger.AppToken(appId);

        // Chunked, with no length: read whole, so its record names its 3,072 bytes and the app gets them with a length.
        using (var client = ledger.Client())
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/gw/plain/stream?kb=3") { Headers = { Authorization = new("Bearer", token) } })
        using (var response = await client.SendAsync(request))
        {
            ((int)response.StatusCode).ShouldBe(200);
            response.Content.Headers.ContentLength.ShouldBe(3072);
            (await response.Content.ReadAsByteArrayAsync()).Length.ShouldBe(3072);
            var served = await Recorded(appId, response.Headers.GetValues("X-Request-Id").Single());
            served.ShouldSatisfyAllConditions(a => a.Status.ShouldBe(200), a => a.BytesOut.ShouldBe(3072), a => a.Decision.ShouldBe(AccessDecisions.Allow));
        }

        // A HEAD: the length of the body it describes, no body, and no bytes on the record.
        using (var client = ledger.Client())
        using (var request = new HttpRequestMessage(HttpMethod.Head, "/gw/plain/stream?kb=3") { Headers = { Authorization = new("Bearer", token) } })
        using (var response = await client.SendAsync(request))
        {
            ((int)response.StatusCode).ShouldBe(200);
            (await Recorded(appId, response.Headers.GetValues("X-Request-Id").Single())).BytesOut.ShouldBe(0);
        }

        // Longer than Gateway:MaxMaskedResponseBytes (1 MB in this suite): refused and recorded, never streamed past its record.
        var tooLong = await ledger.Get("/gw/plain/stream?kb=1100", token);
        tooLong.Status.ShouldBe(502, tooLong.Text);
        tooLong.Text.ShouldContain("response-too-large");
        (await Recorded(appId, tooLong.RequestId)).ShouldSatisfyAllConditions(a => a.Status.ShouldBe(502), a => a.BytesOut.ShouldBe(0));

        // Announces 100 bytes and stops after 10: refused and recorded as such, not recorded as served.
        var cut = await ledger.Get("/gw/plain/cut-short", token);
        cut.Status.ShouldBe(502, cut.Text);
        cut.Text.ShouldContain("upstream-cut-short");
        (await Recorded(appId, cut.RequestId)).Status.ShouldBe(502);
    }

    [Fact]
    public async Task A_zero_length_beside_a_chunked_body_does_not_carry_the_body_past_masking_or_its_record()
    {
        var appId = await ledger.DataApp("cl0-chunked");
        var answer = await ledger.Get("/gw/raw/cl0-chunked", await ledger.AppToken(appId, "EMEA", "read:contacts"));

        answer.Status.ShouldBe(200, answer.Text);
        answer.Text.ShouldNotContain("alice@example.com");
        answer.Text.ShouldNotContain("555 0101");
        var served = await Recorded(appId, answer.RequestId);
        served.BytesOut.ShouldBe(Encoding.UTF8.GetByteCount(answer.Text));
        served.BytesOut.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task An_error_body_shown_unmasked_to_a_user_who_may_see_pii_is_a_recorded_reveal()
    {
        var appId = await ledger.DataApp("reveal-error");
        var refused = await ledger.Get("/gw/raw/problem-400", await ledger.AppTokenFor(appId, $"user-{Guid.NewGuid():N}@example.com", "EMEA", true));

        refused.Status.ShouldBe(400, refused.Text);
        refused.Text.ShouldContain("alice@example.com");
        (await ledger.AccessEvents(appId)).OfType<PiiRevealed>().ShouldContain(r => r.RequestId == refused.RequestId);
    }

    [Fact]
    public void A_masked_answer_keeps_no_header_that_could_name_what_masking_hides()
    {
        var route = new GovernanceLedger.Gateway.GatewayRoute { Name = "crm", Upstream = "http://127.0.0.1:5081", ResponseHeaders = ["X-Total-Count", "X-Owner"] };
        var message = new HttpResponseMessage(System.Net.HttpStatusCode.Created) { Content = new StreamContent(new System.IO.Pipelines.Pipe().Reader.AsStream()) };
        message.Headers.TryAddWithoutValidation("ETag", "\"alice@example.com\"");
        message.Headers.TryAddWithoutValidation("Location", "/contacts/7?email=alice@example.com");
        message.Headers.TryAddWithoutValidation("X-Total-Count", "50");
        message.Headers.TryAddWithoutValidation("X-Owner", "alice@example.com");
        message.Headers.TryAddWithoutValidation("Cache-Control", "max-age=60");
        message.Content.Headers.TryAddWithoutValidation("Content-Disposition", "attachment; filename=\"alice@example.com.json\"");
        message.Content.Headers.TryAddWithoutValidation("Content-Language", "en");

        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        GovernanceLedger.Gateway.UpstreamHeaders.CopyResponse(message, context.Response, route, shaped: true);

        var headers = context.Response.Headers;
        headers.ShouldNotContainKey("ETag");
        headers.ShouldNotContainKey("Content-Disposition");
        headers.ShouldNotContainKey("Content-Language");
        headers.ShouldNotContainKey("X-Owner");
        headers["X-Total-Count"].ToString().ShouldBe("50");
        headers.Location.ToString().ShouldBe("/gw/crm/contacts/7");
        headers.CacheControl.ToString().ShouldBe("private, max-age=60");
    }

    [Fact]
    public async Task A_205_is_passed_without_its_body_and_recorded_as_the_app_got_it()
    {
        var appId = await ledger.DataApp("reset-205");
        using var client = ledger.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/gw/raw/reset-205") { Headers = { Authorization = new("Bearer", await ledger.AppToken(appId)) } };
        using var response = await client.SendAsync(request);

        ((int)response.StatusCode).ShouldBe(205);
        (await response.Content.ReadAsByteArrayAsync()).ShouldBeEmpty();
        var recorded = await Recorded(appId, response.Headers.GetValues("X-Request-Id").Single());
        recorded.ShouldSatisfyAllConditions(a => a.Status.ShouldBe(205), a => a.BytesOut.ShouldBe(0));
    }

    [Fact]
    public async Task A_response_that_cannot_be_masked_is_refused_rather_than_passed_on()
    {
        var appId = await ledger.DataApp("unmaskable");
        var token = await ledger.AppToken(appId, "EMEA", "read:contacts");
        var export = await ledger.Get("/gw/diag/export", token);
        export.Status.ShouldBe(502, export.Text);
        export.Text.ShouldNotContain("@example.com");
        (await Recorded(appId, export.RequestId)).Status.ShouldBe(502);
    }

    [Fact]
    public async Task An_upstream_error_page_is_replaced_by_a_problem_citing_its_status()
    {
        var appId = await ledger.DataApp("boom");
        var token = await ledger.AppToken(appId, "EMEA", "read:contacts");
        var failed = await ledger.Get("/gw/diag/boom", token);
        failed.Status.ShouldBe(502);
        failed.ContentType.ShouldBe("application/problem+json");
        failed.Text.ShouldContain("answered 500");
        failed.Text.ShouldNotContain("Upstream.cs");
        failed.Text.ShouldNotContain("InvalidOperationException");
        var recorded = await Recorded(appId, failed.RequestId);
        recorded.Status.ShouldBe(502);
        recorded.Reason.ShouldContain("500");

        // Nor its status line: the upstream's reason phrase names its database host.
        using var client = ledger.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/gw/diag/boom");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var raw = await client.SendAsync(request);
        ((int)raw.StatusCode).ShouldBe(502);
        (raw.ReasonPhrase ?? "").ShouldNotContain("db01");
    }

    [Fact]
    public async Task Client_trace_and_baggage_headers_neither_reach_the_upstream_nor_become_the_ledgers_trace()
    {
        var appId = await ledger.DataApp("trace");
        var token = await ledger.AppToken(appId);
        const string chosenTrace = "0af7651916cd43dd8448eb211c80319c";
        var echoed = await ledger.SendRaw(HttpMethod.Get, "/gw/diag/echo-headers", null, null, token, new Dictionary<string, string>
        {
            ["traceparent"] = $"00-{chosenTrace}-b7ad6b7169203331-01", ["tracestate"] = "evil=1",
            ["baggage"] = "x-app-id=evil,enduser=ceo%40example.com", ["Correlation-Context"] = "user=ceo@example.com",
            ["Request-Id"] = "|spoofed-root.1."
        });
        echoed.Status.ShouldBe(200, echoed.Text);
        echoed.Text.ShouldNotContain("evil");
        echoed.Text.ShouldNotContain("ceo@example.com");
        echoed.Text.ShouldNotContain(chosenTrace);
        echoed.Text.ShouldNotContain("spoofed-root");
        (await Recorded(appId, echoed.RequestId)).TraceId.ShouldNotBe(chosenTrace);
    }

    [Fact]
    public async Task An_oversized_chunked_body_is_413_and_recorded_against_the_app_that_sent_it()
    {
        var appId = await ledger.DataApp("chunked", null, "write:contacts");
        var token = await ledger.AppToken(appId);
        var body = Encoding.UTF8.GetBytes("{\"name\":\"x\",\"email\":\"x@example.com\",\"company\":\"" + new string('a', 300_000) + "\"}");
        using var client = ledger.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/gw/crm/contacts") { Content = new StreamContent(new MemoryStream(body)) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.TransferEncodingChunked = true;
        request.Headers.Authorization = new("Bearer", token);
        using var response = await client.SendAsync(request);
        ((int)response.StatusCode).ShouldBe(413);
        var id = response.Headers.GetValues("X-Request-Id").Single();
        var denial = await Recorded(appId, id);
        denial.Status.ShouldBe(413);
        denial.TokenId.ShouldNotBeNull();
    }

    [Fact]
    public async Task Gateway_body_refusals_name_the_field_and_rule()
    {
        var appId = await ledger.ServedApp(Scenarios.ExampleManifest(Scenarios.NewAppId("fields"))
            .With("scopes", Scenarios.Strings("write:survey_responses")).With("connectors", Scenarios.Strings("forms:surveys")));
        var token = await ledger.AppToken(appId);
        var refused = await ledger.SendRaw(HttpMethod.Post, "/gw/surveys/responses",
            Encoding.UTF8.GetBytes("""{"survey_id":"abc","answer":"x","score":11}"""), "application/json", token);
        refused.Status.ShouldBe(400, refused.Text);
        refused.Node("errors")!.AsArray().ShouldContain(e => e!["field"]!.GetValue<string>() == "score" && e["rule"]!.GetValue<string>() == "maximum", refused.Text);

        var precise = await ledger.SendRaw(HttpMethod.Post, "/gw/surveys/responses",
            Encoding.UTF8.GetBytes("""{"survey_id":"abc","answer":"x","score":1.0000000000000000000000000000001}"""), "application/json", token);
        precise.Status.ShouldBe(400, precise.Text);
        precise.Text.ShouldContain("number-range");
    }

    [Fact]
    public async Task Fields_of_the_dataset_the_app_was_not_granted_are_withheld_from_gateway_responses()
    {
        var appId = await ledger.ServedApp(Scenarios.ExampleManifest(Scenarios.NewAppId("withheld"))
            .With("scopes", Scenarios.Strings("read:contacts")).With("connectors", Scenarios.Strings("crm:contacts"))
            .With("datasets", Scenarios.Datasets(("contacts", ["contact_id", "name", "company"]))));
        var contacts = await ledger.Get("/gw/crm/contacts?limit=2", await ledger.AppToken(appId));
        contacts.Status.ShouldBe(200, contacts.Text);
        foreach (var contact in contacts.Json!.AsArray())
            contact!.AsObject().Select(p => p.Key).ShouldBe(["contact_id", "name", "company"], ignoreOrder: true);
    }
}
