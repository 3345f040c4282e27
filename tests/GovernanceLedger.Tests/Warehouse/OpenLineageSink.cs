using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace GovernanceLedger.Tests.Warehouse;

/// <summary>An OpenLineage endpoint as Marquez exposes it (POST /api/v1/lineage), keeping every event it is sent.</summary>
public sealed class OpenLineageSink : IAsyncDisposable
{
    private readonly WebApplication _app;
    public ConcurrentQueue<JsonObject> Events { get; } = new();
    public string Url { get; }

    private OpenLineageSink(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public static async Task<OpenLineageSink> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        OpenLineageSink? sink = null;
        app.MapPost("/api/v1/lineage", async (HttpContext context) =>
        {
            var body = await JsonNode.ParseAsync(context.Request.Body);
            sink!.Events.Enqueue(body!.AsObject());
            return Results.Created();
        });
        await app.StartAsync();
        var address = app.Urls.First();
        sink = new OpenLineageSink(app, $"{address}/api/v1/lineage");
        return sink;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
