using System.Diagnostics;
using System.Text.Json;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.DataPlane;
using GovernanceLedger.DataProxy;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Projections.Warehouse;
using GovernanceLedger.Telemetry;
using Marten;
using Microsoft.Extensions.Options;

namespace GovernanceLedger.Warehouse;

/// <summary>A template's answer: the version that ran, its columns and rows.</summary>
public sealed record TemplateAnswer(string Template, int Version, IReadOnlyList<string> Columns, IReadOnlyList<Dictionary<string, object?>> Rows,
    int RowCount, bool Truncated, long ScannedRows, long ScannedBytes);

/// <summary>
/// The pre-approved queries as apps see them. GET /data/queries lists the templates in force whose datasets and columns
/// the app was granted; POST /data/queries/{name} runs one with typed parameters, under the same admission, scopes,
/// field grants, daily row budget and access events as any dataset query. An app never sends SQL.
/// </summary>
public sealed class AppQueries(
    DataPlaneGuard guard, AccessRecorder recorder, UsageLimits limits, IWarehouse warehouse, WarehouseReads reads, IDocumentStore store,
    IOptionsMonitor<DataCatalog> catalog, IOptionsMonitor<DataProxyOptions> proxy, IOptionsMonitor<WarehouseOptions> options,
    LedgerTelemetry telemetry, TimeProvider clock, ILogger<AppQueries> logger)
{
    private const int MaxBodyBytes = 16 * 1024;

    public async Task<IResult> ListAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        var (caller, denial) = await guard.AdmitAsync(context, []);
        if (caller is null)
        {
            await recorder.DeniedAsync(context, QueryDataset.Plane, "data/queries", denial!, start);
            return AccessRecorder.Refusal(denial!);
        }
        await using var session = store.QuerySession();
        var templates = (await session.Query<QueryTemplate>().ToListAsync(context.RequestAborted))
            .Select(t => (t, v: t.InForce)).Where(x => x.v is not null && Ungranted(caller, x.v).Count == 0)
            .OrderBy(x => x.t.Name)
            .Select(x => new
            {
                name = x.t.Name, version = x.v!.Version, description = x.v.Description, datasets = x.v.Columns.Keys,
                parameters = x.v.Parameters.Select(p => new { name = p.Name, type = p.Type, max_length = p.MaxLength, pattern = p.Pattern, @enum = p.Enum, minimum = p.Minimum, maximum = p.Maximum }),
                columns = x.v.Output
            }).ToList();
        await recorder.AllowedAsync(context, QueryDataset.Plane, "data/queries", caller, 200, 0, start, "listed query templates");
        return Results.Json(new { app_id = caller.AppId, templates }, LedgerSetup.ApiJson);
    }

    public async Task<IResult> RunAsync(HttpContext context, string name)
    {
        var start = Stopwatch.GetTimestamp();
        Activity.Current = null;
        using var activity = LedgerTelemetry.Source.StartActivity("data.template");
        QueryTemplate? template = null;
        if (Identifiers.IsSlug(name))
        {
            await using var session = store.QuerySession();
            template = await session.LoadAsync<QueryTemplate>(QueryTemplate.StreamFor(name), context.RequestAborted);
        }
        var version = template?.InForce;
        // Routes and labels name only templates that exist.
        var route = version is null ? "data/queries/unknown" : $"data/queries/{template!.Name}";
        var datasets = version?.Columns.Keys.Select(k => catalog.CurrentValue.DatasetList.FirstOrDefault(d => d.Name == k)).ToList() ?? [];
        var (caller, denial) = await guard.AdmitAsync(context, datasets.OfType<DatasetEntry>().Select(d => d.RequiredScope).Distinct().ToList());
        if (caller is null) return await RefuseAsync(context, route, denial!, start);
        if (version is null || template is null || datasets.Any(d => d is null || !WarehouseReads.Serves(d)))
            return await RefuseAsync(context, route, caller.Deny(StatusCodes.Status404NotFound, "unknown-template",
                "No approved query template has that name."), start);

        var ungranted = Ungranted(caller, version);
        if (ungranted.Count > 0)
            return await RefuseAsync(context, route, caller.Deny(StatusCodes.Status403Forbidden, "field-not-granted",
                $"The template reads what {caller.AppId} was not granted: {string.Join(", ", ungranted)}"), start);

        var (body, bodyProblem) = await StrictJson.ReadObjectAsync(context.Request, MaxBodyBytes, "The template's parameters", context.RequestAborted);
        if (bodyProblem is not null)
            return await RefuseAsync(context, route, caller.Deny(bodyProblem.Status, bodyProblem.Errors.FirstOrDefault()?.Rule ?? "body", bodyProblem.Detail),
                start, bodyProblem.Errors);
        var request = body!;
        var violations = request.Select(p => p.Key).Where(k => k is not ("parameters" or "limit"))
            .Select(k => new Violation(StrictJson.Bounded(k, 40), "additionalProperties", "A template run takes parameters and limit only.")).ToList();
        var maxRows = proxy.CurrentValue.MaxRows;
        var limit = maxRows;
        if (request["limit"] is { } l && !(l is System.Text.Json.Nodes.JsonValue lv && lv.TryGetValue<int>(out limit) && limit >= 1 && limit <= maxRows))
            violations.Add(new("limit", "range", $"limit must be an integer from 1 to {maxRows}."));
        if (request["parameters"] is not (null or System.Text.Json.Nodes.JsonObject))
            violations.Add(new("parameters", "type", "parameters is an object of name: value."));
        var (values, bindErrors) = TemplateCheck.Bind(request["parameters"] as System.Text.Json.Nodes.JsonObject, version.Parameters);
        violations.AddRange(bindErrors);
        if (violations.Count > 0)
            return await RefuseAsync(context, route, caller.Deny(400, "parameters", "The template's parameters are invalid."), start, violations);

        var (budgetOk, budgetRetry, reservation) = await limits.ReserveRowsAsync(caller.AppId, caller.App.Quotas, limit);
        using var unread = reservation;
        if (!budgetOk)
            return await RefuseAsync(context, route, caller.Deny(StatusCodes.Status429TooManyRequests, "daily-row-budget",
                $"The daily budget of {caller.App.Quotas.EffectiveRowsPerDay} rows is used up.") with { RetryAfter = budgetRetry }, start);

        var queryStart = Stopwatch.GetTimestamp();
        WarehouseAnswer answer;
        ReadPlan plan;
        try
        {
            // What this run reads with these values, as the planner binds it: the approved datasets alone, and only fields
            // the app was granted. A value cannot widen what the template reads past what was reviewed.
            plan = await warehouse.PlanAsync(version.Sql, values, context.RequestAborted);
            var tables = datasets.ToDictionary(d => WarehouseReads.TableOf(d!), d => d!, StringComparer.Ordinal);
            var outside = plan.OtherSources.Concat(plan.Tables.Keys.Where(t => !tables.ContainsKey(t))).ToList();
            var beyond = plan.Tables.Where(t => tables.ContainsKey(t.Key)).SelectMany(t =>
            {
                var grant = caller.App.Datasets.First(g => g.Name == tables[t.Key].Name);
                return t.Value.Where(c => !grant.Fields.Contains(c)).Select(c => $"{tables[t.Key].Name}.{c}");
            }).ToList();
            if (outside.Count > 0 || beyond.Count > 0)
                return await RefuseAsync(context, route, caller.Deny(StatusCodes.Status403Forbidden, "field-not-granted",
                    $"With these values the template would read what {caller.AppId} was not granted: {string.Join(", ", outside.Concat(beyond))}"), start);
            var budget = (int)Math.Min(limit, reservation.Reserved);
            var (scopedSql, scopedValues, unscopable) = RowScope(version.Sql, values, datasets.OfType<DatasetEntry>(), caller.EndUserRegion);
            if (unscopable is not null)
                return await RefuseAsync(context, route, caller.Deny(StatusCodes.Status403Forbidden, "row-scope", unscopable), start);
            answer = await warehouse.QueryAsync($"{scopedSql.With}select * from (\n{scopedSql.Body}\n) as template_answer limit {budget + 1}", scopedValues, budget,
                TimeSpan.FromSeconds(options.CurrentValue.QueryTimeoutSeconds), context.RequestAborted);
        }
        catch (Exception e) when (WarehouseReads.IsQueryFailure(e))
        {
            logger.LogWarning(e, "Template {Template} for {AppId} failed", name, caller.AppId);
            var (status, rule, reason) = WarehouseReads.Refusal(e);
            return await RefuseAsync(context, route, caller.Deny(status, rule, reason), start);
        }
        var duration = AccessRecorder.Elapsed(queryStart);
        var scanned = plan.Tables.Select(t => reads.Scanned(t.Key, t.Value)).ToList();
        var (scannedRows, scannedBytes) = (scanned.Sum(s => s.Rows), scanned.Sum(s => s.Bytes));
        var rows = answer.Rows.Select(r =>
        {
            // Two answer columns may share a name (select a, a): the later one wins, as JSON objects have it.
            var row = new Dictionary<string, object?>(answer.Columns.Count, StringComparer.Ordinal);
            for (var i = 0; i < answer.Columns.Count; i++) row[answer.Columns[i]] = r[i];
            return row;
        }).ToList();
        var response = new TemplateAnswer(template!.Name, version.Version, answer.Columns, rows, rows.Count, answer.Truncated, scannedRows, scannedBytes);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(response, LedgerSetup.ApiJson);
        reservation.Read(rows.Count);
        var now = clock.GetUtcNow();
        // The query event is also the request's access event.
        await recorder.QueryServedAsync(context, QueryDataset.Plane, route, caller, start, new QueryExecuted(AccessRecorder.RequestId(context), caller.AppId,
            caller.EndUser, string.Join(",", version.Columns.Keys),
            answer.Columns, [], values.Select(v => new FilterTerm(v.Key!, "param", DatasetQuery.CutValue(Convert.ToString(v.Value, System.Globalization.CultureInfo.InvariantCulture)))).ToList(),
            [], limit, rows.Count, bytes.Length, duration, WarehouseReads.Role, null, caller.PolicyId, caller.PolicyVersion,
            Activity.Current?.TraceId.ToString(), now, [], scannedRows, scannedBytes, $"{template.Name}@{version.Version}"));
        var tags = new TagList { { "app_id", caller.AppId }, { "dataset", route }, { "status", 200 }, { "decision", "allow" } };
        telemetry.Queries.Add(1, tags);
        telemetry.QueryDuration.Record(duration, tags);
        telemetry.QueryRows.Add(rows.Count, tags);
        return Results.Bytes(bytes, "application/json");
    }

    /// <summary>The parameter that carries the end user's region into a row-scoped template run.</summary>
    public const string RegionParameter = "ledger_row_region";

    /// <summary>
    /// Row-level security goes with the data into the warehouse: a dataset the catalog scopes by a key (its RlsKey) is read by
    /// a template, as by a dataset query, only where that key is the end user's region, and by no row without one. Each such
    /// table is shadowed, for the run, by a common table expression of its rows in the region, which every unqualified
    /// reference in the template reads instead (its own CTEs included). A template naming such a table with its schema would
    /// read past the shadow, so it is refused (named), as is one whose text no longer parses.
    /// </summary>
    public static ((string With, string Body) Sql, List<KeyValuePair<string?, object?>> Values, string? Unscopable) RowScope(
        string sql, List<KeyValuePair<string?, object?>> values, IEnumerable<DatasetEntry> datasets, string? region)
    {
        var scoped = datasets.Where(d => d.RlsKey is { Length: > 0 }).ToList();
        if (scoped.Count == 0) return (("", sql), values, null);
        var (shape, error) = SqlShape.Parse(sql);
        if (shape is null) return (("", sql), values, $"The template no longer parses ({error}), so its rows cannot be scoped to the end user's region.");
        var tables = scoped.Select(WarehouseReads.TableOf).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var qualified = shape.Tables.Where(t => t.Contains('.') && tables.Contains(t.Split('.')[^1])).ToList();
        if (qualified.Count > 0)
            return (("", sql), values, $"The template names {string.Join(", ", qualified)} with its schema, so its rows cannot be scoped to the end user's region; name the table alone.");
        var with = "with " + string.Join(", ", scoped.Select(d =>
            $"\"{WarehouseReads.TableOf(d)}\" as (select * from main.\"{WarehouseReads.TableOf(d)}\" where \"{d.RlsKey}\" = ${RegionParameter})")) + "\n";
        return ((with, sql), [.. values, new(RegionParameter, region)], null);
    }

    /// <summary>"dataset.column" for each column the template reads that the app's grant does not include.</summary>
    private static List<string> Ungranted(AppCaller caller, QueryTemplateVersion version) =>
        version.Columns.SelectMany(c =>
        {
            var grant = caller.App.Datasets.FirstOrDefault(g => g.Name == c.Key);
            return grant is null ? [c.Key] : c.Value.Where(f => !grant.Fields.Contains(f)).Select(f => $"{c.Key}.{f}");
        }).ToList();

    private Task<IResult> RefuseAsync(HttpContext context, string route, Denial denial, long start, IReadOnlyList<Violation>? violations = null) =>
        ProxyRefusal.RefuseAsync(recorder, telemetry, logger, context, route, denial, start, violations);
}
