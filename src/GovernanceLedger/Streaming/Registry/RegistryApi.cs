using System.Text.Json;
using System.Text.Json.Nodes;
using GovernanceLedger.Security;

namespace GovernanceLedger.Streaming.Registry;

/// <summary>
/// A Confluent-compatible schema registry under /registry: any Confluent client can use
/// http://host:port/registry as its registry URL. Reads are open (consumers must resolve schema ids);
/// registrations and compatibility changes need a platform admin and are recorded in the ledger.
/// Errors carry Confluent's error_code and message beside the problem+json fields.
/// </summary>
public static class RegistryApi
{
    private const string ContentType = "application/vnd.schemaregistry.v1+json";

    /// <summary>What Confluent's registry consumes and produces, in its order of preference.</summary>
    private static readonly string[] MediaTypes = [ContentType, "application/vnd.schemaregistry+json", "application/json"];

    /// <summary>Bodies may also come as application/octet-stream (Confluent accepts it; some tools send it).</summary>
    private static readonly string[] RequestMediaTypes = [.. MediaTypes, "application/octet-stream"];

    private static readonly Dictionary<string, string> Summaries = new(StringComparer.Ordinal)
    {
        ["GET /registry/subjects"] = "Lists the registered subjects.",
        ["GET /registry/subjects/{subject}/versions"] = "Lists a subject's schema versions.",
        ["GET /registry/subjects/{subject}/versions/{version}"] = "One version of a subject's schema (a number or latest).",
        ["GET /registry/subjects/{subject}/versions/{version}/schema"] = "The schema text alone of one version.",
        ["GET /registry/schemas/ids/{id:int}"] = "A schema by its global id, as consumers resolve it.",
        ["GET /registry/schemas/ids/{id:int}/schema"] = "The schema text alone, by its global id.",
        ["GET /registry/schemas/ids/{id:int}/subjects"] = "The subjects that registered the schema with this id.",
        ["GET /registry/schemas/ids/{id:int}/versions"] = "The subject and version pairs that registered the schema with this id.",
        ["GET /registry/subjects/{subject}/versions/{version}/referencedby"] = "Schemas referencing this version (none: references are not accepted).",
        ["GET /registry/mode"] = "The registry's mode: READWRITE (imports are not supported).",
        ["POST /registry/subjects/{subject}/versions"] = "Registers a schema under a subject, if compatible (platform admins; recorded in the ledger).",
        ["POST /registry/subjects/{subject}"] = "Looks up whether a schema is registered under a subject, and as which version.",
        ["POST /registry/compatibility/subjects/{subject}/versions/{version}"] = "Tests a schema against one version of a subject under its compatibility level.",
        ["POST /registry/compatibility/subjects/{subject}/versions"] = "Tests a schema as a registration would be checked: the latest version, or all under a transitive level.",
        ["GET /registry/config"] = "The global compatibility level.",
        ["GET /registry/config/{subject}"] = "A subject's compatibility level.",
        ["PUT /registry/config"] = "Sets the global compatibility level (platform admins; recorded in the ledger).",
        ["PUT /registry/config/{subject}"] = "Sets a subject's compatibility level (platform admins; recorded in the ledger).",
        ["GET /registry/schemas/types"] = "The schema types this registry accepts (Avro).",
        ["DELETE /registry/subjects/{subject}"] = "Refused: the ledger never deletes a subject (405 with Confluent's error code).",
        ["DELETE /registry/subjects/{subject}/versions/{version}"] = "Refused: the ledger never deletes a schema version (405 with Confluent's error code)."
    };
    // Schemas are JSON inside JSON: relaxed escaping keeps their quotes readable (still valid JSON).
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = null, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void MapSchemaRegistry(this IEndpointRouteBuilder app)
    {
        var registry = app.MapGroup("/registry").WithTags("Schema registry");
        registry.AddEndpointFilter(NegotiateAsync);
        // Each endpoint's summary in the API document, by method and route.
        ((IEndpointConventionBuilder)registry).Add(endpoint =>
        {
            var method = endpoint.Metadata.OfType<HttpMethodMetadata>().FirstOrDefault()?.HttpMethods.FirstOrDefault();
            var route = (endpoint as RouteEndpointBuilder)?.RoutePattern.RawText;
            if (method is not null && route is not null && Summaries.TryGetValue($"{method} {route}", out var summary))
                endpoint.Metadata.Add(new EndpointSummaryAttribute(summary));
        });

        registry.MapGet("/subjects", async (SchemaRegistryLedger r, CancellationToken ct) => Ok(await r.SubjectsAsync(ct))).AllowAnonymous();

        registry.MapGet("/subjects/{subject}/versions", async (string subject, SchemaRegistryLedger r, CancellationToken ct) =>
            await r.SubjectAsync(subject, ct) is { Versions.Count: > 0 } entry
                ? Ok(entry.Versions.Select(v => v.Version))
                : SubjectMissing(subject)).AllowAnonymous();

        registry.MapGet("/subjects/{subject}/versions/{version}", async (string subject, string version, SchemaRegistryLedger r, CancellationToken ct) =>
            SchemaRegistryLedger.InvalidVersion(version) is { } badVersion ? Error(badVersion)
            : await r.VersionAsync(subject, version, ct) is { } v ? Ok(View(v))
            : await r.SubjectAsync(subject, ct) is null ? SubjectMissing(subject)
            : Error(new RegistryError(404, 40402, $"Version '{version}' of subject '{subject}' not found.", "version", "exists"))).AllowAnonymous();

        registry.MapGet("/subjects/{subject}/versions/{version}/schema", async (string subject, string version, SchemaRegistryLedger r, CancellationToken ct) =>
            SchemaRegistryLedger.InvalidVersion(version) is { } badVersion ? Error(badVersion)
            : await r.VersionAsync(subject, version, ct) is { } v
                ? Results.Text(v.Schema, ContentType)
                : Error(new RegistryError(404, 40402, $"Version '{version}' of subject '{subject}' not found.", "version", "exists"))).AllowAnonymous();

        registry.MapGet("/schemas/ids/{id:int}", async (int id, SchemaRegistryLedger r, CancellationToken ct) =>
            await r.SchemaAsync(id, ct) is { } s
                ? Ok(new Dictionary<string, object> { ["schema"] = s.Schema })
                : SchemaMissing(id)).AllowAnonymous();

        registry.MapGet("/schemas/ids/{id:int}/schema", async (int id, SchemaRegistryLedger r, CancellationToken ct) =>
            await r.SchemaAsync(id, ct) is { } s
                ? Results.Text(s.Schema, ContentType)
                : SchemaMissing(id)).AllowAnonymous();

        registry.MapGet("/schemas/ids/{id:int}/subjects", async (int id, SchemaRegistryLedger r, CancellationToken ct) =>
            await r.UsagesAsync(id, ct) is { Count: > 0 } usages
                ? Ok(usages.Select(u => u.Subject).Distinct())
                : SchemaMissing(id)).AllowAnonymous();

        registry.MapGet("/schemas/ids/{id:int}/versions", async (int id, SchemaRegistryLedger r, CancellationToken ct) =>
            await r.UsagesAsync(id, ct) is { Count: > 0 } usages
                ? Ok(usages.Select(u => new Dictionary<string, object> { ["subject"] = u.Subject, ["version"] = u.Version }))
                : SchemaMissing(id)).AllowAnonymous();

        registry.MapGet("/subjects/{subject}/versions/{version}/referencedby", async (string subject, string version, SchemaRegistryLedger r, CancellationToken ct) =>
            SchemaRegistryLedger.InvalidVersion(version) is { } badVersion ? Error(badVersion)
            : await r.VersionAsync(subject, version, ct) is not null ? Ok(Array.Empty<int>())
            : await r.SubjectAsync(subject, ct) is null ? SubjectMissing(subject)
            : Error(new RegistryError(404, 40402, $"Version '{version}' of subject '{subject}' not found.", "version", "exists"))).AllowAnonymous();

        registry.MapGet("/mode", () => Ok(new Dictionary<string, object> { ["mode"] = "READWRITE" })).AllowAnonymous();

        registry.MapPost("/subjects/{subject}/versions", async (string subject, HttpContext http, SchemaRegistryLedger r, CancellationToken ct) =>
        {
            var (body, bad) = await ReadAsync(http, ct);
            if (bad is not null) return Error(bad);
            var caller = Caller.From(http.User);
            var (registered, error) = await r.RegisterAsync(subject, Text(body, "schema")!, Text(body, "schemaType"), caller.Actor, ct);
            return error is not null ? Error(error) : Ok(new Dictionary<string, object> { ["id"] = registered!.Id });
        }).RequireAuthorization(PeopleAuthentication.Policies.Admin);

        registry.MapPost("/subjects/{subject}", async (string subject, HttpContext http, SchemaRegistryLedger r, CancellationToken ct) =>
        {
            var (body, bad) = await ReadAsync(http, ct);
            if (bad is not null) return Error(bad);
            var (_, invalid) = SchemaRegistryLedger.Parse(Text(body, "schema"), Text(body, "schemaType"));
            if (invalid is not null) return Error(invalid);
            if (await r.SubjectAsync(subject, ct) is null) return SubjectMissing(subject);
            return await r.LookupAsync(subject, Text(body, "schema")!, ct) is { } found
                ? Ok(View(found))
                : Error(new RegistryError(404, 40403, $"The schema is not registered under subject '{subject}'.", "schema", "registered"));
        }).AllowAnonymous();

        registry.MapPost("/compatibility/subjects/{subject}/versions/{version}", (string subject, string version, HttpContext http, SchemaRegistryLedger r, CancellationToken ct) =>
            CompatibilityAsync(subject, version, http, r, ct)).AllowAnonymous();
        registry.MapPost("/compatibility/subjects/{subject}/versions", (string subject, HttpContext http, SchemaRegistryLedger r, CancellationToken ct) =>
            CompatibilityAsync(subject, null, http, r, ct)).AllowAnonymous();

        registry.MapGet("/config", async (SchemaRegistryLedger r, CancellationToken ct) =>
            Ok(new Dictionary<string, object> { ["compatibilityLevel"] = await r.CompatibilityAsync(null, true, ct) })).AllowAnonymous();

        registry.MapGet("/config/{subject}", async (string subject, bool? defaultToGlobal, SchemaRegistryLedger r, CancellationToken ct) =>
        {
            var level = await r.CompatibilityAsync(subject, defaultToGlobal ?? false, ct);
            return level.Length > 0
                ? Ok(new Dictionary<string, object> { ["compatibilityLevel"] = level })
                : Error(new RegistryError(404, 40408, $"Subject '{subject}' has no compatibility level of its own.", "subject", "config"));
        }).AllowAnonymous();

        registry.MapGet("/schemas/types", () => Ok(new[] { "AVRO" })).AllowAnonymous();

        // The ledger is append-only: a schema that was registered stays on record, with who registered it.
        registry.MapDelete("/subjects/{subject}", (string subject) => Error(new RegistryError(405, 40501,
            $"Subjects are never deleted: every version of '{subject}' stays in the ledger. Set its compatibility or register a new version instead.", "subject", "append-only")));
        registry.MapDelete("/subjects/{subject}/versions/{version}", (string subject, string version) => Error(new RegistryError(405, 40501,
            $"Schema versions are never deleted: version {version} of '{subject}' stays in the ledger.", "version", "append-only")));

        registry.MapPut("/config", (HttpContext http, SchemaRegistryLedger r, CancellationToken ct) => SetLevelAsync(null, http, r, ct)).RequireAuthorization(PeopleAuthentication.Policies.Admin);
        registry.MapPut("/config/{subject}", (string subject, HttpContext http, SchemaRegistryLedger r, CancellationToken ct) => SetLevelAsync(subject, http, r, ct)).RequireAuthorization(PeopleAuthentication.Policies.Admin);
    }

    /// <summary>Would the schema be accepted? Against the version named, or (none named) as the subject's level would check a registration.</summary>
    private static async Task<IResult> CompatibilityAsync(string subject, string? version, HttpContext http, SchemaRegistryLedger r, CancellationToken ct)
    {
        var (body, bad) = await ReadAsync(http, ct);
        if (bad is not null) return Error(bad);
        var verbose = http.Request.Query["verbose"] is { Count: > 0 } v && bool.TryParse(v[0], out var yes) && yes;
        var (reasons, error) = await r.CheckAsync(subject, version, Text(body, "schema")!, Text(body, "schemaType"), ct);
        // As Confluent's registry does: asked for the details, an invalid schema is an incompatible one, with the reason.
        if (error is { ErrorCode: 42201 } && verbose)
            return Ok(new Dictionary<string, object> { ["is_compatible"] = false, ["messages"] = new[] { error.Message } });
        if (error is not null) return Error(error);
        var answer = new Dictionary<string, object> { ["is_compatible"] = reasons!.Count == 0 };
        if (verbose || reasons.Count > 0) answer["messages"] = reasons;
        return Ok(answer);
    }

    private static async Task<IResult> SetLevelAsync(string? subject, HttpContext http, SchemaRegistryLedger r, CancellationToken ct)
    {
        var (body, bad) = await ReadAsync(http, ct);
        if (bad is not null) return Error(bad);
        var caller = Caller.From(http.User);
        var level = Text(body, "compatibility")?.ToUpperInvariant();
        var error = await r.SetCompatibilityAsync(subject, level, caller.Actor, ct);
        return error is not null ? Error(error) : Ok(new Dictionary<string, object> { ["compatibility"] = level! });
    }

    private static async Task<(JsonObject? Body, RegistryError? Error)> ReadAsync(HttpContext http, CancellationToken ct)
    {
        try
        {
            return await JsonNode.ParseAsync(http.Request.Body, cancellationToken: ct) is JsonObject body
                ? (body, null)
                : (null, new RegistryError(422, 42201, "The body must be a JSON object.", "", "json-object"));
        }
        catch (JsonException e)
        {
            return (null, new RegistryError(422, 42201, $"The body is not valid JSON: {e.Message}", "", "json"));
        }
    }

    private static string? Text(JsonObject? body, string name) =>
        body?[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static Dictionary<string, object> View(SchemaVersionView v) => new()
    {
        ["subject"] = v.Subject, ["version"] = v.Version, ["id"] = v.Id, ["schema"] = v.Schema
    };

    private static IResult Ok(object value) => new Negotiated(value);

    /// <summary>A registry answer in the media type the caller's Accept header chose (Confluent's v1 type by default).</summary>
    private sealed class Negotiated(object value) : IResult
    {
        public Task ExecuteAsync(HttpContext http) =>
            Results.Json(value, Json, http.Items[AnswerType] as string ?? ContentType).ExecuteAsync(http);
    }

    /// <summary>
    /// Content negotiation as Confluent's registry does it: a body must come as one of the registry's media types
    /// (or none named), else 415; an Accept header must allow one of them, else 406. Answers use the type asked for.
    /// </summary>
    /// <summary>Whether a request body in this media type is one the registry reads (none named counts as JSON).</summary>
    public static bool AcceptsBody(string? contentType) =>
        contentType is not { Length: > 0 }
        || Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
           && RequestMediaTypes.Contains(media.MediaType.Value, StringComparer.OrdinalIgnoreCase)
           && (!media.Charset.HasValue || media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase));

    /// <summary>A refusal from before the registry's own code ran (a body that is not strict JSON, too large), in the registry's shape.</summary>
    public static IResult Refusal(Infrastructure.Problem problem)
    {
        var first = problem.Errors.FirstOrDefault();
        var status = problem.Status == 400 ? 422 : problem.Status;
        return Error(new RegistryError(status, status == 422 ? 42201 : status, problem.Detail, first?.Field ?? "", first?.Rule ?? "invalid"));
    }

    private static async ValueTask<object?> NegotiateAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        if ((HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method)) && !AcceptsBody(request.ContentType))
            return Error(new RegistryError(415, 415, $"HTTP 415 Unsupported Media Type: send {string.Join(", ", RequestMediaTypes)}.", "Content-Type", "media-type"));
        var accept = request.GetTypedHeaders().Accept;
        if (accept is { Count: > 0 })
        {
            var chosen = accept.Where(a => a.Quality is not 0)
                .OrderByDescending(a => a.Quality ?? 1)
                .Select(a => MediaTypes.FirstOrDefault(m => m.Equals(a.MediaType.Value, StringComparison.OrdinalIgnoreCase))
                             ?? (a.MatchesAllTypes || a.MatchesAllSubTypes ? MediaTypes.FirstOrDefault(m => new Microsoft.Net.Http.Headers.MediaTypeHeaderValue(m).IsSubsetOf(a)) : null))
                .FirstOrDefault(m => m is not null);
            if (chosen is null)
                return Error(new RegistryError(406, 406, $"HTTP 406 Not Acceptable: the registry answers {string.Join(", ", MediaTypes)}.", "Accept", "media-type"));
            context.HttpContext.Items[AnswerType] = chosen;
        }
        return await next(context);
    }

    private const string AnswerType = "registry.answer-type";

    private static IResult SchemaMissing(int id) => Error(new RegistryError(404, 40403, $"Schema {id} not found.", "id", "exists"));

    private static IResult SubjectMissing(string subject) =>
        Error(new RegistryError(404, 40401, $"Subject '{subject}' not found.", "subject", "exists"));

    private static IResult Error(RegistryError e) => Results.Json(new Dictionary<string, object>
    {
        ["type"] = "https://governance-ledger.dev/problems/schema-registry",
        ["title"] = e.Status == 409 ? "Incompatible schema" : "Schema registry request refused",
        ["status"] = e.Status,
        ["detail"] = e.Message,
        ["errors"] = new[] { new { field = e.Field, rule = e.Rule, message = e.Message } },
        ["error_code"] = e.ErrorCode,
        ["message"] = e.Message
    }, Json, "application/problem+json", e.Status);
}
