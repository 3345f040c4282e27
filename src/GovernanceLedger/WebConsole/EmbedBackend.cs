using System.Text.Json;
using System.Text.Json.Nodes;
using GovernanceLedger.Infrastructure;
using Json.Schema;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Caching.Memory;

namespace GovernanceLedger.WebConsole;

/// <summary>
/// The backend for an embedded micro app (backend-for-frontend). The app in its sandboxed frame asks the console page
/// by postMessage; the page posts the query here with the session cookie and the antiforgery token. The query must
/// fit schemas/embed/to-host.schema.json; the session's people token is exchanged for a short-lived app token for this
/// app (POST /apps/{id}/tokens, so the audience rules and the token's recorded issuance apply), kept on the server for
/// a few minutes, and the data proxy answers as it answers any app. The app token never leaves the server.
/// </summary>
public sealed class EmbedBackend(IAntiforgery antiforgery, IMemoryCache cache, IHostEnvironment environment)
{
    private static readonly TimeSpan TokenReuse = TimeSpan.FromMinutes(4);
    private JsonSchema? _toHost;

    private JsonSchema ToHost => _toHost ??= JsonSchema.FromText(File.ReadAllText(SchemaPath()), new BuildOptions { SchemaRegistry = new SchemaRegistry() });

    private string SchemaPath()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "schemas", "embed", "to-host.schema.json");
        return File.Exists(path) ? path : Path.Combine(environment.ContentRootPath, "..", "..", "schemas", "embed", "to-host.schema.json");
    }

    public static void Map(WebApplication app)
    {
        app.MapPost("/console/embed/{appId}/query", (string appId, HttpContext http, EmbedBackend backend, ConsoleApi api) => backend.QueryAsync(appId, http, api))
            .RequireAuthorization(ConsoleSetup.Policy).ExcludeFromDescription();
        // The address the product names for embedding; the console's session lives under /console.
        app.MapGet("/apps/{appId}/embed", (string appId) => Results.Redirect($"/console/apps/{Uri.EscapeDataString(appId)}/embed"))
            .AllowAnonymous().ExcludeFromDescription();
    }

    private async Task<IResult> QueryAsync(string appId, HttpContext http, ConsoleApi api)
    {
        try
        {
            await antiforgery.ValidateRequestAsync(http);
        }
        catch (AntiforgeryValidationException)
        {
            return Problem.Forbidden("antiforgery", "The request lacks the console page's antiforgery token.").ToResult();
        }
        var (body, unreadable) = await StrictJson.ReadObjectAsync(http.Request, 16 * 1024, "The message", http.RequestAborted);
        if (unreadable is not null) return unreadable.ToResult();
        using var document = JsonDocument.Parse(body!.ToJsonString());
        var verdict = ToHost.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (!verdict.IsValid || body["type"]?.GetValue<string>() != "query")
            return Problem.Invalid("", "embed-contract", "The message does not fit schemas/embed/to-host.schema.json as a query.").ToResult();

        var token = await AppTokenAsync(appId, http, api);
        if (token.Error is { } refused) return Results.Json(refused.Json, LedgerSetup.ApiJson, "application/problem+json", refused.Status);
        var query = new JsonObject { ["fields"] = body["fields"]!.DeepClone(), ["limit"] = body["limit"]?.DeepClone() ?? 50 };
        if (body["filter"] is JsonArray filter) query["filter"] = filter.DeepClone();
        var answer = await api.PostAsync($"/data/{Uri.EscapeDataString(body["dataset"]!.GetValue<string>())}/query", query, bearer: token.Value, ct: http.RequestAborted);
        return Results.Json(answer.Json, LedgerSetup.ApiJson, answer.Ok ? "application/json" : "application/problem+json", answer.Status);
    }

    /// <summary>
    /// What the embed page needs: the app's embeddable entry (from its template) and proof that this person may use the
    /// app, by asking for their app token now (the API applies the audience rules); the token itself stays here.
    /// </summary>
    public async Task<(string? Entry, string? Refusal)> PrepareAsync(string appId, HttpContext http, ConsoleApi api, Marten.IQuerySession session,
        GovernanceLedger.Apps.Templates.TemplateCatalog templates)
    {
        var app = await session.LoadAsync<GovernanceLedger.Projections.Catalog.AppCatalogEntry>(appId, http.RequestAborted);
        var token = await AppTokenAsync(appId, http, api);
        if (token.Error is { } refused) return (null, refused.Problem);
        var entry = app?.Template is { } template ? templates.Find(template)?.Embed : null;
        return entry is { } e && e.StartsWith("/embedded/", StringComparison.Ordinal)
            ? (e, null)
            : (null, "This app has no front end the console can embed (its template names none).");
    }

    /// <summary>The app token this person holds for this app, minted through the API and reused for a few minutes, on the server only.</summary>
    private async Task<(string? Value, ApiAnswer? Error)> AppTokenAsync(string appId, HttpContext http, ConsoleApi api)
    {
        var person = await http.GetTokenAsync(ConsoleSetup.CookieScheme, "access_token") ?? "";
        var key = $"embed:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(person)))}:{appId}";
        if (cache.TryGetValue(key, out string? cached) && cached is not null) return (cached, null);
        var issued = await api.PostAsync($"/apps/{Uri.EscapeDataString(appId)}/tokens", new JsonObject { ["expires_in"] = 300 }, ct: http.RequestAborted);
        if (!issued.Ok || issued.Json?["access_token"]?.GetValue<string>() is not { } token) return (null, issued);
        cache.Set(key, token, TokenReuse);
        return (token, null);
    }
}
