using System.Security.Cryptography;
using System.Text;

namespace GovernanceLedger.Telemetry;

/// <summary>
/// /metrics answers only a scraper that presents Metrics:ScrapeToken as a bearer token (Prometheus:
/// `authorization: { credentials: ... }`). Without a configured token the endpoint stays shut.
/// </summary>
public sealed class MetricsScrapeGuard(RequestDelegate next, IConfiguration configuration)
{
    public const string Path = "/metrics";

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments(Path))
        {
            await next(context);
            return;
        }
        var expected = configuration["Metrics:ScrapeToken"] ?? "";
        var header = context.Request.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : "";
        if (expected.Length == 0 || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(expected)))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthenticated",
                type: "https://governance-ledger.dev/problems/unauthenticated",
                detail: "Metrics are served only to a scraper with the configured scrape token.").ExecuteAsync(context);
            return;
        }
        await next(context);
    }
}
