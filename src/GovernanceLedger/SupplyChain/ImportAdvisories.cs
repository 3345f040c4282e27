using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.SupplyChain;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.SupplyChain;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine;
using Wolverine.Http;

namespace GovernanceLedger.SupplyChain;

/// <summary>Re-scan every app's packages against advisory snapshot <paramref name="Version"/> (sent when it is imported).</summary>
public sealed record RescanDependencies(int Version);

/// <summary>
/// POST /supply-chain/advisories (platform admins): imports an advisory snapshot in OSV format,
/// <c>{"source": "...", "advisories": [OSV records]}</c>. It replaces the snapshot in force as the next version, in the
/// ledger (<see cref="AdvisoriesImported"/>), and every app is re-scanned against it in the same transaction's outbox.
/// A record that is not OSV refuses the whole import, naming it.
/// </summary>
public static class ImportAdvisories
{
    public const int MaxBytes = 8 * 1024 * 1024;
    public const string Path = "/supply-chain/advisories";

    public static Decision Decide(AdvisoryDatabase? current, string source, JsonArray records, Caller caller, DateTimeOffset now)
    {
        var (advisories, problems) = OsvRecords.Read(records, "advisories");
        if (problems.Count > 0) return Problem.Invalid($"{problems.Count} advisory record(s) are not OSV.", [.. problems]);
        var sha = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(records.ToJsonString())));
        return Decision.Accept(new AdvisoriesImported((current?.Version ?? 0) + 1, source, sha, advisories, caller.Actor, now));
    }

    [WolverinePost(Path, OperationId = "importAdvisories"), Authorize(Policy = PeopleAuthentication.Policies.Admin)]
    [Tags("Supply chain")]
    public static async Task<(IResult, OutgoingMessages)> Post(HttpRequest request, ClaimsPrincipal user, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        var messages = new OutgoingMessages();
        var (body, unreadable) = await StrictJson.ReadObjectAsync(request, MaxBytes, "The advisory snapshot", ct);
        if (unreadable is not null) return (unreadable.ToResult(), messages);
        var errors = new List<Violation>();
        var source = body!["source"] is JsonValue s && s.TryGetValue<string>(out var text) && text.Trim().Length is > 0 and <= 200 ? text.Trim() : null;
        if (source is null) errors.Add(new("source", "required", "source names where the snapshot comes from (e.g. osv.dev 2026-11-29), up to 200 characters."));
        if (body["advisories"] is not JsonArray records) errors.Add(new("advisories", "required", "advisories is an array of OSV records."));
        foreach (var (name, _) in body)
            if (name is not ("source" or "advisories")) errors.Add(new(name, "unknown-field", $"'{StrictJson.Bounded(name, 40)}' is not a field of a snapshot."));
        if (errors.Count > 0) return (Problem.Invalid("The snapshot is invalid.", [.. errors]).ToResult(), messages);

        // Appended at the version read: two imports at once cannot both become the same version.
        var stream = await session.Events.FetchForWriting<AdvisoryDatabase>(AdvisoryDatabase.StreamId, ct);
        var decision = Decide(stream.Aggregate, source!, (JsonArray)body["advisories"]!, Caller.From(user), clock.GetUtcNow());
        if (decision.Problem is { } problem) return (problem.ToResult(), messages);
        var imported = (AdvisoriesImported)decision.Events.Single();
        stream.AppendOne(imported);
        messages.Add(new RescanDependencies(imported.Version));
        return (Results.Json(new
        {
            version = imported.Version, source = imported.Source, sha256 = imported.Sha256, advisories = imported.Advisories.Count,
            previous_version = stream.Aggregate?.Version
        }, LedgerSetup.ApiJson, statusCode: StatusCodes.Status201Created), messages);
    }

    /// <summary>GET /supply-chain/advisories: the snapshot in force (version, source, hash, when and by whom), and its advisories' ids and severities.</summary>
    [WolverineGet(Path, OperationId = "readAdvisories"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Supply chain")]
    public static async Task<IResult> Get(IQuerySession session, CancellationToken ct)
    {
        var current = await session.LoadAsync<AdvisoryDatabase>(AdvisoryDatabase.StreamId, ct);
        return current is null
            ? Problem.NotFound("No advisory snapshot has been imported: POST /supply-chain/advisories (platform admins).").ToResult()
            : Results.Json(new
            {
                version = current.Version, source = current.Source, sha256 = current.Sha256, imported_at = current.ImportedAt, imported_by = current.ImportedBy,
                advisories = current.Advisories.Select(a => new { id = a.Id, severity = a.Severity, cvss = a.CvssScore, summary = a.Summary,
                    packages = a.Affected.Select(p => $"{p.Ecosystem}:{p.Name}") })
            }, LedgerSetup.ApiJson);
    }
}
