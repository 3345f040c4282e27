using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using GovernanceLedger.Contracts.Warehouse;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Projections.Warehouse;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Wolverine.Http;

namespace GovernanceLedger.Warehouse;

public sealed record ParameterRequest(
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("type")] string? Type,
    [property: JsonPropertyName("max_length")] int? MaxLength,
    [property: JsonPropertyName("pattern")] string? Pattern,
    [property: JsonPropertyName("enum")] List<string>? Enum,
    [property: JsonPropertyName("minimum")] decimal? Minimum,
    [property: JsonPropertyName("maximum")] decimal? Maximum);

public sealed record TemplateProposal(
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("sql")] string? Sql,
    [property: JsonPropertyName("parameters")] List<ParameterRequest>? Parameters);

public sealed record TemplateDecisionRequest(
    [property: JsonPropertyName("decision")] string? Decision,
    [property: JsonPropertyName("reason")] string? Reason);

/// <summary>
/// POST /query-templates (app owners, admins): proposes a version of a named warehouse query. It is checked now (one
/// SELECT over curated datasets, typed named parameters, no PII) and runs only once a reviewer other than its author
/// approves it.
/// </summary>
public static class ProposeQueryTemplate
{
    public static Decision Decide(QueryTemplate? existing, TemplateProposal request, TemplateReads? reads, IReadOnlyList<Violation> violations,
        IReadOnlyList<TemplateParameter> parameters, Caller caller, DateTimeOffset now)
    {
        var errors = new List<Violation>();
        if (!Identifiers.IsSlug(request.Name)) errors.Add(new("name", "slug", "name is lowercase letters, digits and dashes, at most 63."));
        if (!Reasons.IsMeaningful(request.Description)) errors.Add(new("description", "required", "description says what the query answers, for reviewers and builders."));
        errors.AddRange(violations);
        if (errors.Count > 0 || reads is null) return Problem.Invalid("The query template is invalid.", [.. errors]);
        var sha = Sha256(request.Sql!, parameters);
        if (existing?.Versions.LastOrDefault(v => v.Status is QueryTemplate.Pending or QueryTemplate.Approved) is { } current && current.Sha256 == sha)
            return Problem.Conflict("unchanged", $"Version {current.Version} of {request.Name} is already this query ({current.Status}).");
        return Decision.Accept(new QueryTemplateProposed(request.Name!, (existing?.Versions.Count ?? 0) + 1, request.Description!, request.Sql!.Trim(),
            parameters, reads.Columns, reads.Output, sha, caller.Actor, caller.Names, now));
    }

    public static string Sha256(string sql, IReadOnlyList<TemplateParameter> parameters) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { sql = sql.Trim(), parameters }))));

    [WolverinePost("/query-templates", OperationId = "proposeQueryTemplate"), Authorize(Policy = PeopleAuthentication.Policies.Registrant)]
    [Tags("Warehouse")]
    public static async Task<IResult> Post(TemplateProposal request, ClaimsPrincipal user, IDocumentSession session, IOptionsMonitor<DataCatalog> catalog,
        IWarehouse warehouse, TimeProvider clock, CancellationToken ct)
    {
        // A trailing semicolon ends the statement the template is wrapped in; the SQL is kept without it.
        request = request with { Sql = request.Sql?.Trim().TrimEnd(';').TrimEnd() };
        if (request.Parameters?.IndexOf(null!) is >= 0 and var missing)
            return Problem.Invalid($"parameters[{missing}]", "type", "Each parameter is an object {name, type, ...}.").ToResult();
        var parameters = (request.Parameters ?? []).Select(p => new TemplateParameter(p.Name!, p.Type!, p.MaxLength, p.Pattern, p.Enum, p.Minimum, p.Maximum)).ToList();
        var (shape, error) = request.Sql is { Length: > 0 and <= TemplateCheck.MaxSqlBytes } sql ? SqlShape.Parse(sql) : (null, "empty or too long");
        var violations = TemplateCheck.CheckText(request.Sql, parameters, shape, error);
        TemplateReads? reads = null;
        if (violations.Count == 0)
        {
            // What it reads is what the warehouse's planner binds, with a value of each declared type.
            try
            {
                var plan = await warehouse.PlanAsync(request.Sql!, TemplateCheck.SampleValues(parameters), ct);
                (reads, violations) = TemplateCheck.Reads(plan, catalog.CurrentValue.DatasetList.Where(WarehouseReads.Serves).ToList());
            }
            catch (DuckDB.NET.Data.DuckDBException e)
            {
                violations = [new Violation("sql", "binds", $"The warehouse cannot plan the query: {StrictJson.Bounded(e.Message.Split('\n')[0].Split(" Did you mean")[0], 300)}")];
            }
            catch (TimeoutException e)
            {
                violations = [new Violation("sql", "plan-timeout", e.Message)];
            }
            catch (WarehouseUnavailableException)
            {
                return Problem.Unavailable("The warehouse is unavailable on this host, so the template cannot be checked.").ToResult();
            }
        }
        var stream = Identifiers.IsSlug(request.Name) ? await session.Events.FetchForWriting<QueryTemplate>(QueryTemplate.StreamFor(request.Name!), ct) : null;
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        var decision = Decide(stream?.Aggregate, request, reads, violations, parameters, caller, now);
        if (decision.Problem is { } problem)
        {
            // A refused proposal (SQL reading what templates may not, a plan past its time) is on the template's stream too,
            // with its first rule, whoever proposed it.
            if (stream is not null)
            {
                stream.AppendOne(new GovernanceLedger.Contracts.Apps.GovernanceActionRefused("", "propose-query-template",
                    problem.Errors.FirstOrDefault()?.Rule ?? "refused", StrictJson.Bounded(problem.Detail + " " +
                    string.Join("; ", problem.Errors.Select(e => $"{e.Field}: {e.Rule}")), 512), caller.Actor, now));
                await session.SaveChangesAsync(ct);
            }
            return problem.ToResult();
        }
        stream!.AppendMany(decision.Events);
        await session.SaveChangesAsync(ct);
        return Results.Json(decision.Events[0], LedgerSetup.ApiJson, statusCode: StatusCodes.Status201Created);
    }
}

/// <summary>
/// POST /query-templates/{name}/versions/{version}/decision (reviewers): approves or rejects a pending version. Its author
/// never decides on it, and an agent never does.
/// </summary>
public static class DecideQueryTemplate
{
    public static Decision Decide(string name, QueryTemplate? template, int version, TemplateDecisionRequest request, Caller reviewer, DateTimeOffset now)
    {
        if (request.Decision is not ("approve" or "reject")) return Problem.Invalid("decision", "enum", "decision must be 'approve' or 'reject'.");
        if (!Reasons.IsMeaningful(request.Reason)) return Reasons.Missing("review decision");
        if (template?.Versions.FirstOrDefault(v => v.Version == version) is not { } proposed)
            return Problem.NotFound($"No version {version} of a query template named '{StrictJson.Bounded(name, 63)}' is in the ledger.");
        if (reviewer.IsAgent) return Problem.Forbidden("agents-never-approve", "An agent cannot decide on a query template; a person must.");
        if (!reviewer.Governs)
            return Problem.Forbidden("comparable-identity", "Your token's subject or e-mail is not a plain address, so your decision cannot be counted.");
        if (!reviewer.IsReviewer) return Problem.Forbidden("reviewer-role", "Only a security reviewer or a platform admin may decide on a query template.");
        if (reviewer.Names.Any(proposed.ProposerNames.Contains))
            return Problem.Forbidden("no-self-approval", "The author of a query template cannot review it.");
        if (proposed.Status != QueryTemplate.Pending)
            return Problem.Conflict("not-pending", $"Version {version} of {template.Name} is {proposed.Status}, not pending review.");
        return request.Decision == "approve"
            ? Decision.Accept(new QueryTemplateApproved(template.Name, version, request.Reason, reviewer.Actor, now))
            : Decision.Accept(new QueryTemplateRejected(template.Name, version, request.Reason, reviewer.Actor, now));
    }

    [WolverinePost("/query-templates/{name}/versions/{version}/decision", OperationId = "decideOnQueryTemplate"),
     Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Warehouse")]
    public static async Task<IResult> Post(string name, int version, TemplateDecisionRequest request, ClaimsPrincipal user, IDocumentSession session,
        TimeProvider clock, CancellationToken ct)
    {
        if (!Identifiers.IsSlug(name)) return Problem.NotFound("No such query template.").ToResult();
        var stream = await session.Events.FetchForWriting<QueryTemplate>(QueryTemplate.StreamFor(name), ct);
        var (caller, now) = (Caller.From(user), clock.GetUtcNow());
        var decision = Decide(name, stream.Aggregate, version, request, caller, now);
        if (decision.Problem is { } problem)
        {
            // Who was refused a decision on a version that is there (an author on their own, an agent, a second decision) is
            // on the template's stream, as governance refusals are on an app's.
            if (problem.Status is StatusCodes.Status403Forbidden or StatusCodes.Status409Conflict && stream.Aggregate is not null)
            {
                stream.AppendOne(new GovernanceLedger.Contracts.Apps.GovernanceActionRefused("", $"decide-query-template:{version}",
                    problem.Errors.FirstOrDefault()?.Rule ?? "refused", StrictJson.Bounded(problem.Detail, 512), caller.Actor, now));
                await session.SaveChangesAsync(ct);
            }
            return problem.ToResult();
        }
        stream.AppendMany(decision.Events);
        await session.SaveChangesAsync(ct);
        return Results.Json(await session.LoadAsync<QueryTemplate>(QueryTemplate.StreamFor(name), ct), LedgerSetup.ApiJson);
    }
}

/// <summary>GET /query-templates (people): every template, every version, and where its review stands.</summary>
public static class ListQueryTemplates
{
    [WolverineGet("/query-templates", OperationId = "listQueryTemplates"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Warehouse")]
    public static async Task<IResult> Get(IQuerySession session, CancellationToken ct) =>
        Results.Json(new { templates = (await session.Query<QueryTemplate>().ToListAsync(ct)).OrderBy(t => t.Name) }, LedgerSetup.ApiJson);
}
