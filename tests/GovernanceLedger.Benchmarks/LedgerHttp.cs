using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace GovernanceLedger.Benchmarks;

/// <summary>How benchmarks reach a ledger host: development tokens, GET and POST with a bearer, and a store that appends directly.</summary>
public static class LedgerHttp
{
    /// <summary>A Marten store over the host's ledger with the host's event settings; the host owns the schema, this store only appends.</summary>
    public static Marten.DocumentStore AppendingStore(string ledgerDb) => Marten.DocumentStore.For(o =>
    {
        o.Connection(ledgerDb);
        o.DatabaseSchemaName = "ledger";
        o.Events.StreamIdentity = JasperFx.Events.StreamIdentity.AsString;
        o.Events.AppendMode = JasperFx.Events.EventAppendMode.Quick;
        o.Events.MetadataConfig.CorrelationIdEnabled = true;
        o.Events.MetadataConfig.CausationIdEnabled = true;
        o.AutoCreateSchemaObjects = JasperFx.AutoCreate.None;
    });

    public static async Task<string> Token(HttpClient http, string baseUrl, string body) =>
        JsonNode.Parse(await Post(http, baseUrl, "/dev/tokens", body, null))!["access_token"]!.GetValue<string>();

    public static async Task<string> Get(HttpClient http, string baseUrl, string path, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, baseUrl + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode ? body : throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {body}");
    }

    public static async Task<string> Post(HttpClient http, string baseUrl, string path, string? json, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, baseUrl + path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode ? body : throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {body}");
    }
}
