using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authentication;

namespace GovernanceLedger.WebConsole;

/// <summary>What the ledger's API answered a console request.</summary>
public sealed record ApiAnswer(int Status, JsonNode? Json, string Text)
{
    public bool Ok => Status is >= 200 and < 300;

    /// <summary>A refusal in a sentence: the problem's detail, else its title, else the status.</summary>
    public string Problem => Json?["detail"]?.GetValue<string>() ?? Json?["title"]?.GetValue<string>() ?? $"The ledger answered {Status}.";
}

/// <summary>
/// The console's way to the ledger: its own HTTP API on the same host, with the signed-in person's people token from
/// the session cookie. Every page and action is therefore exactly as allowed as the same call from any other client.
/// </summary>
public sealed class ConsoleApi(IHttpContextAccessor accessor, IHttpClientFactory clients, IConfiguration configuration,
    Microsoft.AspNetCore.Hosting.Server.IServer server)
{
    public const string ClientName = "console-api";

    private Uri? _base;

    /// <summary>
    /// Where the person's token is sent: Console:ApiBaseUrl, or the address this host listens on (a wildcard one reached
    /// on loopback). Never the request's Host header: a client chooses that, and would have the ledger send the token, and
    /// relay the answer, wherever it names.
    /// </summary>
    private Uri Base => _base ??= configuration["Console:ApiBaseUrl"] is { Length: > 0 } configured ? new Uri(configured) : OwnAddress(server);

    public static Uri OwnAddress(Microsoft.AspNetCore.Hosting.Server.IServer server)
    {
        var addresses = server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses ?? [];
        // Plain HTTP first when the host has it: a call to itself needs no certificate check.
        var chosen = addresses.OrderBy(a => a.StartsWith("https:", StringComparison.OrdinalIgnoreCase)).FirstOrDefault()
            ?? throw new InvalidOperationException("The console cannot tell where this host listens: set Console:ApiBaseUrl.");
        var uri = new Uri(chosen.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal));
        var host = uri.Host is "0.0.0.0" ? "127.0.0.1" : uri.Host is "[::]" or "::" ? "[::1]" : uri.Host;
        return new UriBuilder(uri.Scheme, host, uri.Port).Uri;
    }

    private async Task<HttpClient> ClientAsync(string? bearer = null)
    {
        var http = accessor.HttpContext ?? throw new InvalidOperationException("The console calls the API only while serving a request.");
        var client = clients.CreateClient(ClientName);
        client.BaseAddress = Base;
        var token = bearer ?? await http.GetTokenAsync(ConsoleSetup.CookieScheme, "access_token");
        if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public async Task<ApiAnswer> GetAsync(string path, CancellationToken ct = default)
    {
        using var client = await ClientAsync();
        using var response = await client.GetAsync(path, ct);
        return await AnswerAsync(response, ct);
    }

    /// <summary>Posts as the signed-in person, or with <paramref name="bearer"/> (an app token the console holds for an embedded app).</summary>
    public async Task<ApiAnswer> PostAsync(string path, JsonObject body, string? bearer = null, CancellationToken ct = default)
    {
        using var client = await ClientAsync(bearer);
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(path, content, ct);
        return await AnswerAsync(response, ct);
    }

    /// <summary>The answer's bytes as the API chose to render them for <paramref name="accept"/> (CSV, NDJSON).</summary>
    public async Task<(int Status, byte[] Body, string ContentType)> GetRawAsync(string path, string accept, CancellationToken ct = default)
    {
        var (status, body, type, _) = await GetPageAsync(path, accept, ct);
        return (status, body, type);
    }

    /// <summary>One page of a paged answer as it came, with the cursor of the next page (the X-Next-Cursor header) if there is one.</summary>
    public async Task<(int Status, byte[] Body, string ContentType, string? NextCursor)> GetPageAsync(string path, string accept, CancellationToken ct = default)
    {
        using var client = await ClientAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd(accept);
        using var response = await client.SendAsync(request, ct);
        var next = response.Headers.TryGetValues("X-Next-Cursor", out var values) ? values.FirstOrDefault() : null;
        return ((int)response.StatusCode, await response.Content.ReadAsByteArrayAsync(ct), response.Content.Headers.ContentType?.ToString() ?? accept, next);
    }

    private static async Task<ApiAnswer> AnswerAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        JsonNode? json = null;
        try { json = text.Length > 0 ? JsonNode.Parse(text) : null; } catch (System.Text.Json.JsonException) { }
        return new ApiAnswer((int)response.StatusCode, json, text);
    }
}
