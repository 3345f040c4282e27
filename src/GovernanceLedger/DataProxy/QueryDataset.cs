using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.DataPlane;
using GovernanceLedger.DataProxy.Revealing;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Telemetry;
using Microsoft.Extensions.Options;
using GovernanceLedger.Warehouse;
using Npgsql;

namespace GovernanceLedger.DataProxy;

/// <summary>
/// POST /data/{dataset}/query: admit the app, check the query against the dataset and the app's
/// grant, run it under the app's own short-lived database login with the row-level-security
/// context set in the transaction, mask PII, and commit QueryExecuted, which is also the request's access event,
/// before answering.
/// </summary>
public sealed class QueryDataset(
    DataPlaneGuard guard, AccessRecorder recorder, EphemeralCredentials credentials, UsageLimits limits, Masking masking, SandboxData sandbox,
    Revealing.RevealGate revealGate, WarehouseReads warehouseReads,
    IOptionsMonitor<DataCatalog> catalog, IOptionsMonitor<DataProxyOptions> options, LedgerTelemetry telemetry,
    TimeProvider clock, ILogger<QueryDataset> logger)
{
    public const string Plane = "data";
    public const int MaxQueryBytes = 64 * 1024;

    public async Task<IResult> HandleAsync(HttpContext context, string datasetName)
    {
        var start = Stopwatch.GetTimestamp();
        // A client's trace context never becomes the ledger's trace id: each query starts a trace of its own.
        Activity.Current = null;
        using var activity = LedgerTelemetry.Source.StartActivity("data.query");
        activity?.SetTag("dataset", datasetName);
        var dataset = catalog.CurrentValue.DatasetList.FirstOrDefault(d => d.Name == datasetName && d.ServedByProxy);
        // Labels and routes name only datasets that exist: a caller cannot mint new metric series.
        var route = $"data/{dataset?.Name ?? "unknown"}";
        DataPlaneRecords.NameRoute(context, route);
        if (dataset is null)
        {
            // Recorded against the app of a valid token (no quota is taken for it), so the app's own denials show it.
            var (appId, claimed, endUser, tokenId, sandbox) = await guard.IdentifyAsync(context);
            return await RefuseAsync(context, route, new Denial(StatusCodes.Status404NotFound, "unknown-dataset",
                "No such dataset is served by the data proxy.", appId, claimed, endUser, tokenId, Sandbox: sandbox), start);
        }

        var (caller, denial) = await guard.AdmitAsync(context, [dataset.RequiredScope], allowSandbox: true);
        if (denial is not null || caller is null)
            return await RefuseAsync(context, route, denial!, start);
        activity?.SetTag("app_id", caller.AppId);

        var grant = caller.App.Datasets.FirstOrDefault(d => d.Name == dataset.Name);
        if (grant is null)
            return await RefuseAsync(context, route, caller.Deny(StatusCodes.Status403Forbidden, "dataset-not-granted",
                $"{caller.AppId} was not granted the dataset {dataset.Name}."), start);

        var (body, bodyProblem) = await StrictJson.ReadObjectAsync(context.Request, MaxQueryBytes, "The query", context.RequestAborted);
        if (bodyProblem is not null)
            return await RefuseAsync(context, route, caller.Deny(bodyProblem.Status, bodyProblem.Errors.FirstOrDefault()?.Rule ?? "body", bodyProblem.Detail),
                start, bodyProblem.Errors);
        var (query, violations) = DatasetQuery.Parse(body!, dataset, options.CurrentValue.MaxRows);
        if (query is null)
            return await RefuseAsync(context, route, caller.Deny(400, "query", "The query is invalid."), start, violations);

        // Each field not granted, named where the query asks for it (no "fields" asks for every field of the dataset).
        var ungranted = query.Fields.Select((f, i) => (Path: body!["fields"] is JsonArray ? $"fields[{i}]" : "fields", Field: f))
            .Concat(query.Filter.Select((c, i) => (Path: $"filter[{i}].field", c.Field)))
            .Concat(query.OrderBy.Select((o, i) => (Path: $"order_by[{i}]", o.Field)))
            .Where(x => !grant.Fields.Contains(x.Field)).ToList();
        if (ungranted.Count > 0)
            return await RefuseAsync(context, route, caller.Deny(StatusCodes.Status403Forbidden, "field-not-granted",
                $"Fields not granted to {caller.AppId}: {string.Join(", ", ungranted.Select(u => u.Field).Distinct())}"), start,
                ungranted.Select(u => new Violation(u.Path, "field-not-granted", $"'{u.Field}' of {dataset.Name} is not granted to {caller.AppId}.")).ToList());

        var pii = dataset.Pii.ToHashSet(StringComparer.Ordinal);
        var touched = query.Fields.Concat(query.Filter.Select(c => c.Field)).Concat(query.OrderBy.Select(o => o.Field)).Where(pii.Contains).Distinct().ToList();
        // The PII scope on both the token and the grant, and then the reveal policies for this end user now.
        var scoped = caller.MayReadPii(catalog.CurrentValue.PiiScope);
        var reveal = scoped && touched.Count > 0
            ? await revealGate.DecideAsync(context, caller, dataset.Name, dataset.RevealRequiresReason, touched, context.RequestAborted)
            : null;
        var unmasked = scoped && (reveal?.Reveal ?? true);
        var masked = unmasked ? [] : query.Fields.Where(pii.Contains).ToList();
        // Filtering or sorting on a masked field would reveal it one comparison at a time.
        var probing = unmasked ? [] : query.Filter.Select(c => c.Field).Concat(query.OrderBy.Select(o => o.Field)).Where(pii.Contains).Distinct().ToList();
        if (probing.Count > 0)
            return await RefuseAsync(context, route, caller.Deny(StatusCodes.Status403Forbidden, "masked-field-predicate",
                scoped
                    ? $"Filtering or ordering on PII fields ({string.Join(", ", probing)}) needs them unmasked, which needs: {string.Join("; ", reveal!.StepUp)}"
                    : $"Filtering or ordering on masked PII fields needs {catalog.CurrentValue.PiiScope}: {string.Join(", ", probing)}"), start);
        var stepUp = reveal is { Reveal: false } ? StepUp.From(reveal, masked) : null;
        var revealed = reveal is { Reveal: true } ? touched : [];

        // A sandbox token never reaches the source: its rows are synthetic, chosen, masked and recorded the same way.
        if (caller.Sandbox)
            return await ServeSandboxAsync(context, route, caller, dataset, query, masked, stepUp, start);

        // The rows this query may read are reserved from the day's shared budget first; what it does not read goes back.
        var (budgetOk, budgetRetry, reservation) = await limits.ReserveRowsAsync(caller.AppId, caller.App.Quotas, query.Limit);
        using var unread = reservation;
        if (!budgetOk)
            return await RefuseAsync(context, route, caller.Deny(StatusCodes.Status429TooManyRequests, "daily-row-budget",
                $"The daily budget of {caller.App.Quotas.EffectiveRowsPerDay} rows is used up.") with { RetryAfter = budgetRetry }, start);

        var region = dataset.RlsKey is null ? null : caller.EndUserRegion;
        var rows = new AnswerRows(query.Fields);
        var truncated = false;
        var queryStart = Stopwatch.GetTimestamp();
        string role;
        var scan = (Rows: 0L, Bytes: 0L);
        if (WarehouseReads.Serves(dataset))
        {
            // The analytics warehouse: the same query, limits and masking; a read-only transaction instead of a per-app login.
            try
            {
                var read = await warehouseReads.ReadAsync(dataset, query, region, (int)Math.Min(query.Limit, reservation.Reserved), context.RequestAborted);
                foreach (var values in read.Answer.Rows)
                {
                    var row = new object?[query.Fields.Count];
                    for (var i = 0; i < query.Fields.Count; i++)
                        row[i] = masked.Contains(query.Fields[i]) ? masking.Apply(dataset.MaskingFor(query.Fields[i]), values[i]) : values[i];
                    rows.Add(row);
                }
                (truncated, role, scan) = (read.Answer.Truncated, WarehouseReads.Role, (read.ScannedRows, read.ScannedBytes));
            }
            catch (Exception e) when (WarehouseReads.IsQueryFailure(e))
            {
                logger.LogWarning(e, "Warehouse query on {Dataset} for {AppId} failed", dataset.Name, caller.AppId);
                var (status, rule, reason) = WarehouseReads.Refusal(e);
                return await RefuseAsync(context, route, caller.Deny(status, rule, reason), start);
            }
        }
        else
        {
            var login = await credentials.LoginAsync(caller.AppId, dataset.Source, caller.App.Datasets, context.RequestAborted);
            var (sql, parameters) = query.ToSql(dataset.View);
            try
            {
                NpgsqlConnection connection;
                try
                {
                    connection = await login.DataSource.OpenConnectionAsync(context.RequestAborted);
                }
                catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification)
                {
                    // The login was changed behind the proxy's back: it is dropped and a fresh one serves this query.
                    logger.LogWarning(e, "The database login {Role} of {AppId} was refused; minting a new one", login.Role, caller.AppId);
                    credentials.Invalidate(login);
                    login = await credentials.LoginAsync(caller.AppId, dataset.Source, caller.App.Datasets, context.RequestAborted);
                    connection = await login.DataSource.OpenConnectionAsync(context.RequestAborted);
                }
                await using var _ = connection;
                // One round trip: the row context and the query go as one batch, which PostgreSQL runs as one
                // implicit transaction, so the transaction-local settings hold for the query and end with it.
                await using var batch = new NpgsqlBatch(connection);
                var setup = new NpgsqlBatchCommand(
                    "select set_config('statement_timeout', $1, true), set_config('app.region', $2, true), set_config('app.region_mac', $5, true), set_config('app.app_id', $3, true), set_config('app.end_user', $4, true)");
                setup.Parameters.Add(new NpgsqlParameter { Value = $"{options.CurrentValue.StatementTimeoutSeconds}s" });
                // No region in the token means no region: the RLS policy then matches nothing (fail closed).
                setup.Parameters.Add(new NpgsqlParameter { Value = region ?? "" });
                setup.Parameters.Add(new NpgsqlParameter { Value = caller.AppId });
                setup.Parameters.Add(new NpgsqlParameter { Value = caller.EndUser ?? "" });
                // The MAC is what makes the region count (see RowContext); the login itself cannot make one.
                setup.Parameters.Add(new NpgsqlParameter { Value = login.Context.Mac(region ?? "", login.Role) });
                batch.BatchCommands.Add(setup);
                var select = new NpgsqlBatchCommand(sql);
                foreach (var p in parameters) select.Parameters.Add(new NpgsqlParameter { Value = p });
                batch.BatchCommands.Add(select);
                await using (var reader = await batch.ExecuteReaderAsync(context.RequestAborted))
                {
                    await reader.NextResultAsync(context.RequestAborted);   // past the settings' one row
                    var budget = Math.Min(query.Limit, reservation.Reserved);
                    while (await reader.ReadAsync(context.RequestAborted))
                    {
                        if (rows.Count >= budget) { truncated = true; break; }
                        var row = new object?[query.Fields.Count];
                        for (var i = 0; i < query.Fields.Count; i++)
                        {
                            var value = reader.IsDBNull(i) ? null : reader.GetValue(i);
                            var field = query.Fields[i];
                            row[i] = masked.Contains(field) ? masking.Apply(dataset.MaskingFor(field), value) : value;
                        }
                        rows.Add(row);
                    }
                }
            }
            catch (PostgresException e)
            {
                // The app sees what went wrong in its own terms; the SQL and the server's text stay in the log.
                logger.LogWarning(e, "Query on {Dataset} for {AppId} failed", dataset.Name, caller.AppId);
                var (status, rule, reason) = e.SqlState switch
                {
                    PostgresErrorCodes.QueryCanceled => (StatusCodes.Status504GatewayTimeout, "statement-timeout", $"The query ran longer than {options.CurrentValue.StatementTimeoutSeconds} s."),
                    PostgresErrorCodes.InvalidTextRepresentation or PostgresErrorCodes.NumericValueOutOfRange or PostgresErrorCodes.InvalidDatetimeFormat
                        // A number compared with a field that is not one (a time, a flag, an id): the field cannot be cast to compare.
                        or PostgresErrorCodes.CannotCoerce or PostgresErrorCodes.DatatypeMismatch or PostgresErrorCodes.UndefinedFunction
                        => (StatusCodes.Status400BadRequest, "value-type", "A filter value does not fit its field's type."),
                    _ => (StatusCodes.Status502BadGateway, "source-error", "The data source refused the query.")
                };
                // A type error names the clauses it is about, as any other invalid value is named.
                var named = rule == "value-type"
                    ? (await TypeErrorClausesAsync(login, dataset, query, e.Position)).Select(i => new Violation($"filter[{i}].value", rule,
                        $"A {(query.Filter[i].Values[0].ValueKind == JsonValueKind.Number ? "number" : "value")} cannot be compared with '{query.Filter[i].Field}', which is not a number; compare it as text (a string value).")).ToList()
                    : null;
                return await RefuseAsync(context, route, caller.Deny(status, rule, reason), start, named);
            }

            role = login.Role;
        }

        var duration = AccessRecorder.Elapsed(queryStart);
        var response = new QueryResponse(dataset.Name, query.Fields, masked, rows, rows.Count, truncated, rows.Count > 0 ? null : WhyEmpty(dataset, region, query),
            StepUp: stepUp);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(response, LedgerSetup.ApiJson);
        reservation.Read(rows.Count);
        var now = clock.GetUtcNow();
        // The query event is also the request's access event: one ledger row per served query.
        var recorded = new List<Task>
        {
            recorder.QueryServedAsync(context, Plane, route, caller, start, new QueryExecuted(AccessRecorder.RequestId(context), caller.AppId, caller.EndUser,
                dataset.Name, query.Fields, masked, query.Shape(pii), query.OrderBy.Select(o => (o.Descending ? "-" : "") + o.Field).ToList(), query.Limit,
                rows.Count, bytes.Length, duration, role, region, caller.PolicyId, caller.PolicyVersion,
                Activity.Current?.TraceId.ToString(), now, query.Fields.Where(pii.Contains).ToList(), scan.Rows, scan.Bytes))
        };
        // Every reveal is on the record with what the reveal policies were given; the answer waits for it like the others.
        if (revealed.Count > 0)
            recorded.Add(recorder.RecordAsync(context, Revealed(context, caller, dataset.Name, revealed, reveal!, now), caller.AppId));
        await Task.WhenAll(recorded);

        var tags = new System.Diagnostics.TagList { { "app_id", caller.AppId }, { "dataset", dataset.Name }, { "status", 200 }, { "decision", "allow" } };
        telemetry.Queries.Add(1, tags);
        telemetry.QueryDuration.Record(duration, tags);
        telemetry.QueryRows.Add(rows.Count, tags);
        return Results.Bytes(bytes, "application/json");
    }

    private static PiiRevealed Revealed(HttpContext context, AppCaller caller, string dataset, IReadOnlyList<string> fields, RevealDecision reveal,
        DateTimeOffset now) =>
        new(AccessRecorder.RequestId(context), caller.AppId, caller.EndUser, dataset, fields, caller.Mfa, reveal.Risk.Score, reveal.Risk.Denials24h,
            reveal.Risk.RequestsToday, reveal.Risk.UsualRequestsPerDay, reveal.Risk.NewRegion, reveal.Risk.Region, reveal.Reason, reveal.PolicyIds, now);

    private async Task<IResult> ServeSandboxAsync(
        HttpContext context, string route, AppCaller caller, DatasetEntry dataset, DatasetQuery query, IReadOnlyList<string> masked, StepUp? stepUp,
        long start)
    {
        var region = dataset.RlsKey is null ? null : caller.EndUserRegion;
        var selected = sandbox.Query(dataset, query, region);
        var truncated = selected.Count > query.Limit;
        var rows = new AnswerRows(query.Fields);
        foreach (var r in selected.Take(query.Limit))
            rows.Add(query.Fields.Select(f => r.GetValueOrDefault(f) is var value && masked.Contains(f) ? masking.Apply(dataset.MaskingFor(f), value) : value).ToArray());
        var response = new QueryResponse(dataset.Name, query.Fields, masked, rows, rows.Count, truncated,
            rows.Count > 0 ? "Sandbox: synthetic rows, not real data." : "Sandbox: " + WhyEmpty(dataset, region, query), Sandbox: true, StepUp: stepUp);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(response, LedgerSetup.ApiJson);
        await recorder.SandboxServedAsync(context, route, caller, StatusCodes.Status200OK, "served synthetic rows", rows.Count, masked, bytes.Length, start);
        return Results.Bytes(bytes, "application/json");
    }

    /// <summary>An empty answer says why, so a builder is not left guessing between an empty table, a filter and row-level security.</summary>
    private static string WhyEmpty(DatasetEntry dataset, string? region, DatasetQuery query) =>
        (dataset.RlsKey, region, query.Filter.Count) switch
        {
            ({ } key, null or "", _) => $"No rows: {dataset.Name} is limited by row-level security to the end user's {key}, and this token's end user has none. " +
                $"Issue the app token for an end user whose sign-in carries a {key}.",
            ({ } key, _, 0) => $"No rows: row-level security shows only rows whose {key} is {region}, and there are none.",
            ({ } key, _, _) => $"No rows: row-level security shows only rows whose {key} is {region}, and the filter matched none of them.",
            (null, _, 0) => $"No rows: {dataset.Name} is empty.",
            _ => "No rows matched the filter."
        };

    /// <summary>
    /// The clauses a source's type error is about: every number compared with a column of the view that is not numeric
    /// (PostgreSQL's catalogue, read as the app's login), else the clause at the error's position, else every number
    /// comparison. A read of the catalogue that fails falls back; the refusal never does.
    /// </summary>
    private async Task<IReadOnlyList<int>> TypeErrorClausesAsync(AppLogin login, DatasetEntry dataset, DatasetQuery query, int position)
    {
        try
        {
            await using var connection = await login.DataSource.OpenConnectionAsync();
            await using var read = new NpgsqlCommand(
                "select a.attname from pg_attribute a join pg_type t on t.oid = a.atttypid where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped and t.typcategory = 'N'",
                connection);
            read.Parameters.Add(new NpgsqlParameter { Value = dataset.View });
            var numeric = new HashSet<string>(StringComparer.Ordinal);
            await using (var columns = await read.ExecuteReaderAsync())
                while (await columns.ReadAsync()) numeric.Add(columns.GetString(0));
            if (query.NumbersAgainstOtherTypes(numeric) is { Count: > 0 } clauses) return clauses;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            logger.LogWarning(e, "Could not read the column types of {View} to name a type error's clause", dataset.View);
        }
        return query.ClausesAt(dataset.View, position);
    }

    private Task<IResult> RefuseAsync(HttpContext context, string route, Denial denial, long start, IReadOnlyList<Violation>? violations = null) =>
        ProxyRefusal.RefuseAsync(recorder, telemetry, logger, context, route, denial, start, violations);
}

/// <summary>The rows a query read. Note says why when there are none.</summary>
public sealed record QueryResponse(
    string Dataset, IReadOnlyList<string> Fields, IReadOnlyList<string> MaskedFields, AnswerRows Rows,
    int RowCount, bool Truncated, string? Note = null, bool Sandbox = false, StepUp? StepUp = null);

/// <summary>Why PII the app may read stayed masked this time: what would reveal which fields, and the risk behind it.</summary>
public sealed record StepUp(IReadOnlyList<string> Reveals, IReadOnlyList<string> Needs, int RiskScore, IReadOnlyList<string> RiskReasons)
{
    public static StepUp From(RevealDecision reveal, IReadOnlyList<string> masked) => new(masked, reveal.StepUp, reveal.Risk.Score, reveal.Risk.Reasons);
}

/// <summary>
/// The rows of an answer: one JSON object per row, keyed by the query's fields, written straight from the values read.
/// The usual column types are written without the serializer's lookup by runtime type (a field asked for twice is
/// written once, as an object can hold it); any other type goes through the serializer as before.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Json))]
public sealed class AnswerRows(IReadOnlyList<string> fields)
{
    private readonly IReadOnlyList<string> _fields = fields;
    private readonly List<object?[]> _rows = [];
    private readonly bool[] _repeated = fields.Select((f, i) => fields.Take(i).Contains(f)).ToArray();

    public int Count => _rows.Count;
    public void Add(object?[] values) => _rows.Add(values);

    private sealed class Json : System.Text.Json.Serialization.JsonConverter<AnswerRows>
    {
        public override AnswerRows Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("Answer rows are only written.");

        public override void Write(Utf8JsonWriter writer, AnswerRows rows, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            foreach (var row in rows._rows)
            {
                writer.WriteStartObject();
                for (var i = 0; i < rows._fields.Count; i++)
                {
                    if (rows._repeated[i]) continue;
                    writer.WritePropertyName(rows._fields[i]);
                    switch (row[i])
                    {
                        case null: writer.WriteNullValue(); break;
                        case string text: writer.WriteStringValue(text); break;
                        case int number: writer.WriteNumberValue(number); break;
                        case long number: writer.WriteNumberValue(number); break;
                        case short number: writer.WriteNumberValue(number); break;
                        case decimal number: writer.WriteNumberValue(number); break;
                        case bool flag: writer.WriteBooleanValue(flag); break;
                        case var value: JsonSerializer.Serialize(writer, value, value.GetType(), options); break;
                    }
                }
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        }
    }
}
