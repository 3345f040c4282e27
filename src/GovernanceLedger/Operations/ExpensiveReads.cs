using System.Security.Claims;
using System.Threading.RateLimiting;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Operations;

/// <summary>
/// Audit, chargeback and admin reads can scan the whole ledger. They run with bounded concurrency, per
/// caller and overall, and never queue: a request over the limit gets 429 with Retry-After at once,
/// never a 500 from an exhausted pool. They read through their own small connection pool
/// (<see cref="LedgerDatabase.Reads"/>), so the data plane and /health keep theirs.
/// </summary>
public static class ExpensiveReads
{
    public const int PerCaller = 2;
    public const int Overall = 6;
    /// <summary>Whole-ledger work (verify, chain export, rebuilds) already spreads over every core: one at a time.</summary>
    public const int HeavyOverall = 1;

    /// <summary>
    /// Also a query template's proposal: the warehouse plans it before anyone has reviewed it, so a person holds at most two
    /// plans at once, however costly the SQL they propose; and the registry's compatibility checks, which anyone may ask for.
    /// </summary>
    public static bool Applies(PathString path) =>
        path.StartsWithSegments("/audit") || path.StartsWithSegments("/chargeback") || path.StartsWithSegments("/admin")
        || path.StartsWithSegments("/query-templates") || path.StartsWithSegments("/registry/compatibility");

    private static bool Heavy(PathString path) =>
        path.StartsWithSegments("/audit/verify") || path.StartsWithSegments("/audit/chain-export") || path.StartsWithSegments("/admin");

    public static WebApplicationBuilder AddOperations(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ReadModelRebuilder>();
        builder.Services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.GlobalLimiter = PartitionedRateLimiter.CreateChained(
                PartitionedRateLimiter.Create<HttpContext, string>(context => Applies(context.Request.Path)
                    ? RateLimitPartition.GetConcurrencyLimiter("caller:" + CallerOf(context), _ => new ConcurrencyLimiterOptions { PermitLimit = PerCaller, QueueLimit = 0 })
                    : RateLimitPartition.GetNoLimiter("unlimited")),
                PartitionedRateLimiter.Create<HttpContext, string>(context => Applies(context.Request.Path)
                    ? RateLimitPartition.GetConcurrencyLimiter("all", _ => new ConcurrencyLimiterOptions { PermitLimit = Overall, QueueLimit = 0 })
                    : RateLimitPartition.GetNoLimiter("unlimited")),
                PartitionedRateLimiter.Create<HttpContext, string>(context => Heavy(context.Request.Path)
                    ? RateLimitPartition.GetConcurrencyLimiter("heavy", _ => new ConcurrencyLimiterOptions { PermitLimit = HeavyOverall, QueueLimit = 0 })
                    : RateLimitPartition.GetNoLimiter("unlimited")));
            options.OnRejected = async (rejected, ct) =>
            {
                rejected.HttpContext.Response.Headers.RetryAfter = "1";
                await new Problem(StatusCodes.Status429TooManyRequests, "https://governance-ledger.dev/problems/busy", "Too many expensive reads",
                    $"At most {PerCaller} audit, chargeback or admin reads run at once per person, {Overall} in all, and {HeavyOverall} whole-ledger verifies, exports or rebuilds; try again in a second.",
                    [new Violation("", "concurrency", "expensive reads are running at their limit")]).ToResult().ExecuteAsync(rejected.HttpContext);
            };
        });
        return builder;
    }

    private static string CallerOf(HttpContext context) =>
        context.User.FindFirstValue("sub") ?? context.Connection.RemoteIpAddress?.ToString() ?? "anonymous";
}
