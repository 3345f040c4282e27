using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace GovernanceLedger.Gateway;

/// <summary>
/// A small CRM-like contacts API and a survey-responses API, so the demo gateway routes front
/// something real. It knows nothing of tokens: only the gateway may call it.
/// </summary>
public sealed class DemoUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<JsonObject> _responses;

    private DemoUpstream(WebApplication app, List<JsonObject> responses) => (_app, _responses) = (app, responses);

    /// <summary>The survey responses it holds now.</summary>
    public IReadOnlyList<JsonObject> Responses() { lock (_responses) return _responses.Select(r => (JsonObject)r.DeepClone()).ToList(); }

    /// <summary>The address actually bound (port 0 in the configuration becomes a real port).</summary>
    public string Url => _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
        .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();

    public static async Task<DemoUpstream> StartAsync(string url)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var contacts = new ConcurrentDictionary<int, JsonObject>(Enumerable.Range(1, 50).ToDictionary(i => i, i => new JsonObject
        {
            ["contact_id"] = i, ["name"] = $"Contact {i}", ["email"] = $"contact{i}@example.com",
            ["phone"] = $"+1 555 01{i:00}", ["company"] = $"Company {i % 7}"
        }));
        var responses = new List<JsonObject>();
        var purges = new Dictionary<string, long>();
        var nextContact = 50;

        app.MapGet("/contacts", (int? limit) => contacts.Values.OrderBy(c => (int)c["contact_id"]!).Take(Math.Clamp(limit ?? 20, 1, 100)).ToList());
        app.MapGet("/contacts/{id:int}", (int id) => contacts.TryGetValue(id, out var c) ? Results.Ok(c) : Results.NotFound());
        app.MapPost("/contacts", (JsonObject body, HttpRequest request) =>
        {
            var id = Interlocked.Increment(ref nextContact);
            body["contact_id"] = id;
            body["created_by_app"] = request.Headers["X-App-Id"].ToString();
            contacts[id] = body;
            return Results.Created($"/contacts/{id}", body);
        });
        app.MapGet("/responses", () => { lock (responses) return responses.Select(r => r.DeepClone()).ToList(); });
        app.MapPost("/responses", (JsonObject body, HttpRequest request) =>
        {
            body["received_from_app"] = request.Headers["X-App-Id"].ToString();
            body["saw_authorization_header"] = request.Headers.ContainsKey("Authorization");
            lock (responses) responses.Add(body);
            return Results.Created("/responses", body);
        });
        // The ledger's retention contract: every response one app sent goes, and asking again with the same purge id
        // gives the same count (the ledger may ask twice if it stopped between the answer and its record).
        app.MapPost("/retention/purge", (JsonObject body) =>
        {
            if (body["app_id"]?.GetValue<string>() is not { Length: > 0 } appId || body["purge_id"]?.GetValue<string>() is not { Length: > 0 } purgeId)
                return Results.BadRequest();
            lock (responses)
            {
                if (!purges.TryGetValue(purgeId, out var purged))
                    purges[purgeId] = purged = responses.RemoveAll(r => r["received_from_app"]?.GetValue<string>() == appId);
                return Results.Ok(new { purged });
            }
        });
        app.MapGet("/echo-headers", (HttpRequest request) => request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()));
        // Misbehaving answers, for the gateway's own checks: an error page full of internals, and PII in CSV.
        app.MapGet("/boom", (HttpContext context) =>
        {
            // Internals in the status line too, where HTTP/1.1 carries a reason phrase.
            context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseFeature>()!.ReasonPhrase = "NpgsqlException at db01.corp.internal";
            return Results.Text("System.InvalidOperationException: boom\n   at Demo.Upstream.Handler() in /home/build/src/Upstream.cs:line 42",
                "text/plain", statusCode: 500);
        });
        // An answer loud with headers, for the gateway's response allowlist: some only the ledger's origin may set, some
        // naming internals, one claiming the access event's id, a Location on the upstream itself; ?empty=1 answers 204.
        app.MapGet("/loud-headers", (HttpContext context, int? empty) =>
        {
            var headers = context.Response.Headers;
            headers["Set-Cookie"] = "session=upstream; Path=/";
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains";
            headers["Alt-Svc"] = "h3=\":443\"";
            headers["Clear-Site-Data"] = "\"*\"";
            headers["Access-Control-Allow-Origin"] = "*";
            headers["Access-Control-Allow-Credentials"] = "true";
            headers["Content-Security-Policy"] = "default-src *";
            headers["Refresh"] = "0; url=https://elsewhere.example/";
            headers["X-Request-Id"] = "upstream-chosen-id";
            headers["X-Internal-Host"] = "db01.corp.internal";
            headers["Link"] = $"<{context.Request.Scheme}://{context.Request.Host}/contacts?page=2>; rel=\"next\"";
            headers["X-Total-Count"] = "50";
            headers["ETag"] = "\"v1\"";
            headers["Cache-Control"] = "private, max-age=60";
            headers["Location"] = $"{context.Request.Scheme}://{context.Request.Host}/contacts/7";
            return empty == 1 ? Results.NoContent() : Results.Json(new { ok = true });
        });
        // A body sent in 1 KB chunks with no length (chunked), and one that announces 100 bytes and stops after 10.
        app.MapMethods("/stream", ["GET", "HEAD"], async (HttpContext context, int? kb) =>
        {
            context.Response.ContentType = "text/plain";
            if (HttpMethods.IsHead(context.Request.Method))
            {
                context.Response.ContentLength = 1024L * Math.Clamp(kb ?? 3, 0, 20_000);
                return;
            }
            var chunk = new byte[1024];
            Array.Fill(chunk, (byte)'x');
            for (var i = 0; i < Math.Clamp(kb ?? 3, 0, 20_000); i++)
            {
                await context.Response.Body.WriteAsync(chunk);
                await context.Response.Body.FlushAsync();
            }
        });
        app.MapGet("/cut-short", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = 100;
            await context.Response.Body.WriteAsync("0123456789"u8.ToArray());
            await context.Response.Body.FlushAsync();
            // The status line, headers and ten bytes are on their way; the connection then ends (reset) mid-body.
            await Task.Delay(200);
            context.Abort();
        });
        app.MapGet("/export", () => Results.Text(string.Join("\n", contacts.Values.Take(3).Select(c => $"{c["name"]},{c["email"]}")), "text/csv"));
        app.MapGet("/contacts-nested", () => new JsonObject
        {
            ["page"] = new JsonObject { ["items"] = new JsonArray(contacts.Values.Take(2).Select(c => (JsonNode?)c.DeepClone()).ToArray()) },
            ["Email"] = "owner@example.com"
        });
        await app.StartAsync();
        return new DemoUpstream(app, responses);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Starts the demo upstream beside the host when Gateway:DemoUpstreamUrl is set.</summary>
public sealed class DemoUpstreamHost(Microsoft.Extensions.Options.IOptions<GatewayOptions> options, ILogger<DemoUpstreamHost> logger) : IHostedService
{
    private DemoUpstream? _upstream;

    public async Task StartAsync(CancellationToken ct)
    {
        _upstream = await DemoUpstream.StartAsync(options.Value.DemoUpstreamUrl!);
        logger.LogInformation("Demo upstream (contacts, survey responses) listening on {Url}", _upstream.Url);
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (_upstream is not null) await _upstream.DisposeAsync();
    }
}
