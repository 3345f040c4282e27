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
/// token was presented; ClaimedApp then holds whatever the token claimed, unverified. Text that
/// comes from the request is cut to documented sizes (AccessFieldSizes). MaskedFields names the
/// PII fields masked in the response.
/// </summary>
public sealed record AccessRecorded(
    string RequestId, string AppId, string? ClaimedApp, string? EndUser, string? TokenId,
    string Plane, string Route, string Method, string Path, int Status, double LatencyMs, long BytesIn, long BytesOut,
    string Decision, string Reason, string? PolicyId, int? PolicyVersion, string? TraceId, DateTimeOffset At,
    IReadOnlyList<string>? MaskedFields = null);

/// <summary>
/// Allowed requests of one app that were committed together, each exactly as its own <see cref="AccessRecorded"/> would
/// be. The data plane's group commit writes one in place of a run of two or more consecutive allowed AccessRecorded of
/// the same access stream and day in one batch (so the ledger's order stays the order they were handed over): one
/// ledger row for many accesses, so the chain, verify and proofs cover every access
/// in it as they cover any event. A lone allowed request, and every refusal, is still its own AccessRecorded. At is
/// the latest access's. Readers that count or bill requests (usage, chargeback, quota recounts) count each access in it.
/// Stored with the fields its accesses share written once (<see cref="AccessesRecordedJson"/>); read back, each access
/// is whole again.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(AccessesRecordedJson))]
public sealed record AccessesRecorded(string AppId, DateTimeOffset At, IReadOnlyList<AccessRecorded> Accesses);

/// <summary>The most characters an access event keeps of each field that a request can influence.</summary>
public static class AccessFieldSizes
{
    public const int ClaimedApp = 128;
    public const int EndUser = 254;
    public const int TokenId = 64;
    public const int Route = 64;
    public const int Method = 16;
    public const int Path = 256;
    public const int Reason = 512;
    /// <summary>A recorded filter value of a query (an "in" list joined by commas).</summary>
    public const int FilterValue = 256;
}

/// <summary>
/// A proxied dataset query: what was read, what was masked, and the filter's shape. PiiFields names the dataset's
/// PII fields among those read, masked or not (absent on queries recorded before it was kept). A warehouse query
/// carries its cost tag, the rows and bytes it scanned (zero for PostgreSQL datasets), and Template names the
/// pre-approved query it ran ("name@version"), if any. Bytes is the size of the answer sent.
/// <para>
/// Request holds the HTTP request the query answered: with it, this event is also that request's access event (an
/// allowed request, counted and billed as one), and no <see cref="AccessRecorded"/> is written for it. Queries
/// recorded before it was kept have none, and their request is the <see cref="AccessRecorded"/> with the same RequestId.
/// </para>
/// </summary>
public sealed record QueryExecuted(
    string RequestId, string AppId, string? EndUser, string Dataset, IReadOnlyList<string> Fields,
    IReadOnlyList<string> MaskedFields, IReadOnlyList<FilterTerm> Filter, IReadOnlyList<string> OrderBy, int Limit,
    int Rows, long Bytes, double DurationMs, string DatabaseRole, string? RlsRegion, string PolicyId, int PolicyVersion,
    string? TraceId, DateTimeOffset At, IReadOnlyList<string>? PiiFields = null, long ScannedRows = 0, long ScannedBytes = 0,
    string? Template = null, QueryRequest? Request = null);

/// <summary>
/// The request a served query answered, as its access event would have it (allowed, reason "served"): the token, the
/// route, method and path (cut to <see cref="AccessFieldSizes"/>), the status sent, the request's whole latency and the
/// bytes it sent.
/// </summary>
public sealed record QueryRequest(string? TokenId, string Plane, string Route, string Method, string Path, int Status, double LatencyMs, long BytesIn);

/// <summary>A filter clause as recorded: the value only when the field is not PII.</summary>
public sealed record FilterTerm(string Field, string Op, string? Value);

/// <summary>A per-app database login was created for the data proxy. The password is never recorded.</summary>
public sealed record DatabaseCredentialMinted(string AppId, string Role, string GroupRole, DateTimeOffset ValidUntil, string Actor, DateTimeOffset At);

/// <summary>A per-app database login reached the end of its life and was dropped.</summary>
public sealed record DatabaseCredentialExpired(string AppId, string Role, string Actor, DateTimeOffset At);

/// <summary>
/// A login named like the proxy's was found at a source with no record of its minting (a crash between
/// creating it and recording it), or run out with no expiry recorded: it was dropped.
/// </summary>
public sealed record DatabaseLoginOrphanRemoved(string Source, string Role, string Why, string Actor, DateTimeOffset At);

/// <summary>
/// What one committed batch of an app's data-plane events adds up to in one minute: every request (allowed or
/// not), those answered 400 or above, denials, rows read, bytes answered, the sum of latencies, the distinct end
/// users (at most <see cref="MaxEndUsers"/> named), and the PII fields read ("dataset.field" from the data proxy,
/// "route.field" from the gateway's masking). PerEndUser counts every end user of the batch in that minute (absent on
/// summaries written before it was kept). Written in the same transaction as the events it counts, so followers of
/// the ledger (baselines, detectors, end-user risk) read one summary instead of every request.
/// </summary>
public sealed record TrafficCounted(
    string AppId, DateTimeOffset Minute, long Requests, long Errors, long Denials, long Rows, DateTimeOffset At,
    long Bytes = 0, double LatencyMs = 0, IReadOnlyList<string>? EndUsers = null, IReadOnlyList<string>? PiiFields = null,
    IReadOnlyList<EndUserCount>? PerEndUser = null)
{
    public const int MaxEndUsers = 1000;
}

/// <summary>
/// What one committed batch of data-plane events adds up to, for every app and minute in it: one
/// <see cref="TrafficCounted"/> each. One event per batch, in the writer's own stream ("traffic:&lt;yyyy-MM-dd&gt;:&lt;instance&gt;"),
/// written in the same transaction as the events it counts: with many apps in a batch, a summary per app would add
/// nearly a row per request. Summaries written before it existed are single <see cref="TrafficCounted"/> events in each
/// app's access stream; followers of the ledger read both.
/// </summary>
public sealed record TrafficSummarized(DateTimeOffset At, IReadOnlyList<TrafficCounted> Counts);

/// <summary>
/// One end user's part of a <see cref="TrafficCounted"/>: requests allowed and denied (gateway and data proxy alike),
/// and the row-level-security regions their data-proxy queries ran in.
/// </summary>
public sealed record EndUserCount(string EndUser, long Allowed, long Denied, IReadOnlyList<string>? Regions = null);

/// <summary>
/// A request made with a sandbox token: served from synthetic data, or refused. Kept apart from AccessRecorded and
/// QueryExecuted, so it never counts as usage, never reaches chargeback and never moves an app's baseline.
/// <see cref="BytesOut"/> is the length of the body answered (0 for a refusal or a HEAD; events recorded before it was
/// kept read as 0).
/// </summary>
public sealed record SandboxRequestServed(
    string RequestId, string AppId, string? EndUser, string? TokenId, string Route, int Status, string Decision, string Reason,
    int Rows, IReadOnlyList<string> MaskedFields, double DurationMs, DateTimeOffset At, long BytesOut = 0);

/// <summary>
/// PII shown unmasked to an end user, with what the reveal policy was given: the user's second factor, the risk score
/// and its inputs (denials in the last 24 hours, today's and a usual day's requests, a region never seen), and the
/// reason the user stated. Recorded with the query it belongs to (same request id).
/// </summary>
public sealed record PiiRevealed(
    string RequestId, string AppId, string? EndUser, string Dataset, IReadOnlyList<string> Fields, bool Mfa, int RiskScore,
    int Denials24h, long RequestsToday, long UsualRequestsPerDay, bool NewRegion, string? Region, string? Reason,
    IReadOnlyList<string> PolicyIds, DateTimeOffset At);
