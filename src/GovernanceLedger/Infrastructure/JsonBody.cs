using System.Text.Json;

namespace GovernanceLedger.Infrastructure;

/// <summary>Request bodies read by hand-mapped endpoints: malformed or missing JSON is a 400 that says where, never a 500.</summary>
public static class JsonBody
{
    public static async Task<(T? Body, Problem? Problem)> ReadAsync<T>(HttpRequest request, CancellationToken ct)
    {
        try
        {
            return (await JsonSerializer.DeserializeAsync<T>(request.Body, cancellationToken: ct), null);
        }
        catch (JsonException e)
        {
            return (default, Problem.Invalid(e.Path is { Length: > 1 } path ? path.TrimStart('$', '.') : "", "json", $"The body is not valid JSON: {e.Message}"));
        }
    }
}
