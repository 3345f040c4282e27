using System.Collections.Concurrent;
using System.Diagnostics;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;

namespace GovernanceLedger.DataPlane;

/// <summary>The app behind an admitted data-plane request, as its token and the ledger say.</summary>
public sealed record AppCaller(
    string AppId, string? EndUser, string? EndUserRegion, string? TokenId, IReadOnlySet<string> Scopes, AppSnapshot App,
    string PolicyId, int PolicyVersion, bool Sandbox = false, bool Mfa = false)
{
    /// <summary>PII is shown only when both the token and the app's grant carry the PII scope.</summary>
    public bool MayReadPii(string piiScope) => Scopes.Contains(piiScope) && App.Scopes.Contains(piiScope);

    /// <summary>A refusal of this admitted caller's request, citing the policy that admitted it.</summary>
    public Denial Deny(int status, string rule, string reason) =>
        new(status, rule, reason, AppId, null, EndUser, TokenId, PolicyId, PolicyVersion, Sandbox: Sandbox);
}

/// <summary>Why a data-plane request was refused, in a form both the response and the access event use.</summary>
public sealed record Denial(
    int Status, string Rule, string Reason, string AppId, string? ClaimedApp, string? EndUser, string? TokenId,
    string? PolicyId = null, int? PolicyVersion = null, TimeSpan? RetryAfter = null, bool Sandbox = false)
{
    public const string Unauthenticated = "unauthenticated";
}

/// <summary>
/// The checks every data-plane request passes, in order: a valid app token, an app the ledger
/// knows, runtime policies (active app, required scopes), the per-second rate and the daily budget.
/// </summary>
public sealed class DataPlaneGuard(AppTokens tokens, AppDirectory directory, UsageLimits limits, PolicyEngine policies, TimeProvider clock, Telemetry.LedgerTelemetry telemetry)
{
    private readonly ConcurrentDictionary<string, (int Generation, IReadOnlyList<PolicyVerdict> Verdicts)> _verdicts = new();

    /// <param name="context">The request.</param>
    /// <param name="requiredScopes">What the request needs.</param>
    /// <param name="countRequest">Whether it counts against the daily quota.</param>
    /// <param name="allowSandbox">
    /// Whether the caller serves sandbox tokens (from synthetic data). Every other door refuses them: a sandbox token
    /// never reaches real data, whatever route it is tried on.
    /// </param>
    public async Task<(AppCaller? Caller, Denial? Denial)> AdmitAsync(
        HttpContext context, IReadOnlyList<string> requiredScopes, bool countRequest = true, bool allowSandbox = false)
    {
        var lap = Stopwatch.GetTimestamp();
        var check = await tokens.CheckAsync(context.Request);
        lap = telemetry.Lap("token", lap);
        if (check.Token is not { } token)
            return (null, new Denial(StatusCodes.Status401Unauthorized, "app-token",
                // One plain sentence: the library's message names key ids and internals an attacker should not see.
                check.Failure switch
                {
                    AppTokenFailure.Missing => "An app token (Authorization: Bearer) is required.",
                    AppTokenFailure.Expired => "The app token has expired.",
                    _ => "The app token is not valid."
                },
                Denial.Unauthenticated, UnverifiedSubject(context), null, null));

        var subject = token.Subject;
        var tokenId = token.TokenId;
        var endUser = token.EndUser;
        if (!subject.StartsWith("app:", StringComparison.Ordinal))
            return (null, new Denial(StatusCodes.Status401Unauthorized, "app-token", "The token's subject is not an app.",
                Denial.Unauthenticated, subject, endUser, tokenId));
        var appId = subject["app:".Length..];
        var sandbox = token.Sandbox;
        // Every refusal of a sandbox token is recorded apart, as its answers are: never as the app's own denials, which feed
        // its usage and the detectors that throttle and pause it.
        if (sandbox && !allowSandbox)
            return (null, new Denial(StatusCodes.Status403Forbidden, "sandbox-token",
                "A sandbox token reads synthetic data only, through dataset queries and gateway routes; it opens nothing else.",
                appId, null, endUser, tokenId, Sandbox: true));

        if (!directory.Loaded)
            return (null, new Denial(StatusCodes.Status503ServiceUnavailable, "directory-loading",
                "The app directory is still loading; try again shortly.", appId, null, endUser, tokenId, Sandbox: sandbox));
        var found = await directory.FindAsync(appId, context.RequestAborted);
        lap = telemetry.Lap("directory", lap);
        if (found is not { } app)
            return (null, new Denial(StatusCodes.Status403Forbidden, "unknown-app", $"No app '{appId}' is in the ledger.", appId, null, endUser, tokenId,
                Sandbox: sandbox));

        if (sandbox && app.Status == Contracts.Apps.AppStatus.Retired)
            return (null, new Denial(StatusCodes.Status403Forbidden, "retired", $"{appId} is retired.", appId, null, endUser, tokenId, Sandbox: true));
        var scopes = token.Scopes;
        // In the sandbox the app counts as active (trying it before approval is the point); every other runtime policy applies.
        var verdicts = RuntimeVerdicts(sandbox ? app with { Status = Contracts.Apps.AppStatus.Active, ExpiresAt = null } : app, scopes, token.ScopeKey, requiredScopes);
        if (verdicts.FirstOrDefault(v => v.Outcome == PolicyOutcomes.Deny) is { } deny)
        {
            return (null, new Denial(StatusCodes.Status403Forbidden, deny.PolicyId, deny.Reason, appId, null, endUser, tokenId, deny.PolicyId, deny.Version,
                Sandbox: sandbox));
        }
        // An allowed request cites the scope policy: it is the one that granted this particular access.
        var deciding = verdicts.FirstOrDefault(v => v.PolicyId == "runtime-scopes-required") ?? verdicts[0];
        lap = telemetry.Lap("policy", lap);

        var now = clock.GetUtcNow();
        // The sandbox has a bucket of its own at the same rate: trying an app out never takes the app's own requests from it.
        var (rateOk, rateRetry) = limits.TryRate(sandbox ? UsageLimits.SandboxBucket(appId) : appId, app.RequestsPerSecondAt(now));
        if (!rateOk)
            return (null, (app.IsThrottledAt(now)
                ? new Denial(StatusCodes.Status429TooManyRequests, "throttled",
                    $"After an anomaly the app is held to {app.RequestsPerSecondAt(now)} requests per second until {app.ThrottledUntil:O}.",
                    appId, null, endUser, tokenId, RetryAfter: rateRetry)
                : new Denial(StatusCodes.Status429TooManyRequests, "rate-limit",
                    $"More than {app.Quotas.EffectiveRequestsPerSecond} requests per second.", appId, null, endUser, tokenId, RetryAfter: rateRetry)) with { Sandbox = sandbox });
        // Sandbox requests are not usage: they use no daily quota.
        if (countRequest && !sandbox)
        {
            var (dayOk, dayRetry, unit) = await limits.TryRequestAsync(appId, app.Quotas);
            if (!dayOk)
                return (null, new Denial(StatusCodes.Status429TooManyRequests, "daily-quota",
                    $"The daily quota of {app.Quotas.EffectiveRequestsPerDay} requests is used up.", appId, null, endUser, tokenId, RetryAfter: dayRetry));
            // Handed back by the recorder if this request is refused after all.
            context.Items[nameof(UsageLimits.RequestUnit)] = unit;
        }

        telemetry.Lap("limits", lap);
        var caller = new AppCaller(appId, endUser, token.EndUserRegion, tokenId, scopes, app,
            deciding.PolicyId, deciding.Version, sandbox, token.Mfa);
        // Whatever ends the request later, its record names the app that was admitted.
        context.Items[nameof(AppCaller)] = caller;
        return (caller, null);
    }

    /// <summary>
    /// Who a request that ended without its own record came from, for that record: the admitted app, else the app of a
    /// valid token (a path or method routing refused never reached the guard), else "unauthenticated" with what the
    /// token claims, unverified.
    /// </summary>
    public async Task<(string AppId, string? ClaimedApp, string? EndUser, string? TokenId, bool Sandbox)> IdentifyAsync(HttpContext context)
    {
        if (context.Items[nameof(AppCaller)] is AppCaller caller) return (caller.AppId, null, caller.EndUser, caller.TokenId, caller.Sandbox);
        if ((await tokens.CheckAsync(context.Request)).Token is { } token && token.Subject.StartsWith("app:", StringComparison.Ordinal))
            return (token.Subject["app:".Length..], null, token.EndUser, token.TokenId, token.Sandbox);
        return (Denial.Unauthenticated, UnverifiedSubject(context), null, null, false);
    }

    private IReadOnlyList<PolicyVerdict> RuntimeVerdicts(AppSnapshot app, IReadOnlySet<string> scopes, string scopeKey, IReadOnlyList<string> required)
    {
        var active = app.IsActiveAt(clock.GetUtcNow());
        var key = $"{app.AppId}|{app.Status}|{active}|{scopeKey}|{string.Join(' ', required)}|{string.Join(' ', app.Scopes)}";
        var generation = policies.Generation;
        if (_verdicts.TryGetValue(key, out var cached) && cached.Generation == generation) return cached.Verdicts;

        var verdicts = policies.EvaluateRuntime(new Dictionary<string, object?>
        {
            ["app"] = new Dictionary<string, object?>
            {
                ["id"] = app.AppId,
                ["status"] = app.Status,
                ["active"] = active,
                ["granted_scopes"] = app.Scopes.Select(s => (object?)s).ToList()
            },
            ["token"] = new Dictionary<string, object?> { ["scopes"] = scopes.Select(s => (object?)s).ToList() },
            ["request"] = new Dictionary<string, object?> { ["required_scopes"] = required.Select(s => (object?)s).ToList() }
        });
        _verdicts[key] = (generation, verdicts);
        return verdicts;
    }

    /// <summary>
    /// What an invalid token claims to be, for the denial record only; never trusted. Read by hand from a compact JWS's
    /// payload (header.payload.signature, base64url JSON with a string "sub"): anything else, however it is shaped, claims
    /// nothing. A token library's parser throws its own exception types on shapes it half-recognizes (a JWE's five
    /// parts, bad base64), and one it was not expected to throw left a refusal unrecorded.
    /// </summary>
    private static string? UnverifiedSubject(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return null;
        var token = header.AsSpan("Bearer ".Length).Trim();
        var first = token.IndexOf('.');
        var last = token.LastIndexOf('.');
        if (first <= 0 || last == first || token[(first + 1)..last].Contains('.')) return null;
        var payload = token[(first + 1)..last];
        var bytes = new byte[System.Buffers.Text.Base64Url.GetMaxDecodedLength(payload.Length)];
        if (System.Buffers.Text.Base64Url.DecodeFromChars(payload, bytes, out _, out var written) != System.Buffers.OperationStatus.Done) return null;
        var reader = new System.Text.Json.Utf8JsonReader(bytes.AsSpan(0, written), new System.Text.Json.JsonReaderOptions { MaxDepth = 8 });
        try
        {
            if (!reader.Read() || reader.TokenType != System.Text.Json.JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.PropertyName)
            {
                var isSubject = reader.ValueTextEquals("sub"u8);
                reader.Read();
                if (isSubject)
                    return reader.TokenType == System.Text.Json.JsonTokenType.String ? StrictJson.Bounded(reader.GetString()!, AccessFieldSizes.ClaimedApp) : null;
                reader.Skip();
            }
            return null;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            // Not JSON, or text that is not valid Unicode: it claims nothing.
            return null;
        }
    }
}
