namespace GovernanceLedger.Contracts.Access;

// Data-plane events. They are high-volume, so they live in one stream per app per day
// ("access:<app_id>:<yyyy-MM-dd>"), never in the app's lifecycle stream.

public static class AccessDecisions
{
    public const string Allow = "allow";
    public const string Deny = "deny";
}

/// <summary>
/// One gateway or data-proxy request, allowed or denied. AppId is "unauthenticated" when no valid
/// token was presented; ClaimedApp then holds whatever the token claimed, unverified.
/// </summary>
public sealed record AccessRecorded(
    string RequestId, string AppId, string? ClaimedApp, string? EndUser, string? TokenId,
    string Plane, string Route, string Method, string Path, int Status, double LatencyMs, long BytesIn, long BytesOut,
    string Decision, string Reason, string? PolicyId, int? PolicyVersion, string? TraceId, DateTimeOffset At);

/// <summary>A proxied dataset query: what was read, what was masked, and the filter's shape.</summary>
public sealed record QueryExecuted(
    string RequestId, string AppId, string? EndUser, string Dataset, IReadOnlyList<string> Fields,
    IReadOnlyList<string> MaskedFields, IReadOnlyList<FilterTerm> Filter, IReadOnlyList<string> OrderBy, int Limit,
    int Rows, long Bytes, double DurationMs, string DatabaseRole, string? RlsRegion, string PolicyId, int PolicyVersion,
    string? TraceId, DateTimeOffset At);

/// <summary>A filter clause as recorded: the value only when the field is not PII.</summary>
public sealed record FilterTerm(string Field, string Op, string? Value);

/// <summary>A per-app database login was created for the data proxy. The password is never recorded.</summary>
public sealed record DatabaseCredentialMinted(string AppId, string Role, string GroupRole, DateTimeOffset ValidUntil, string Actor, DateTimeOffset At);

/// <summary>A per-app database login reached the end of its life and was dropped.</summary>
public sealed record DatabaseCredentialExpired(string AppId, string Role, string Actor, DateTimeOffset At);
