using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// The OpenAPI document, fit for generating clients: the two bearer schemes (people, apps) described, and every
/// operation with its security, a summary (from the handler's own doc comment), and the problem+json answers it
/// can give (400 for input, 401 and 403 for who may call it, 404 where it names something, 409 and 429 where they
/// apply).
/// </summary>
public static partial class ApiDocument
{
    public const string People = "people";
    public const string Apps = "app";

    public static IServiceCollection AddLedgerOpenApi(this IServiceCollection services)
    {
        var summaries = DocSummaries.Load();
        return services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[People] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http, Scheme = "bearer", BearerFormat = "JWT",
                    Description = "A person's token from the identity provider (Development: POST /dev/tokens). Roles decide what it may do."
                };
                document.Components.SecuritySchemes[Apps] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http, Scheme = "bearer", BearerFormat = "JWT",
                    Description = "A short-lived app token from POST /apps/{appId}/tokens, for the data plane."
                };
                document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
                document.Components.Schemas["Problem"] = ProblemSchema();
                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                var path = "/" + (context.Description.RelativePath ?? "").Split('?')[0];
                // A summary set on the endpoint stands; otherwise its handler's doc comment (Wolverine's own is its route name).
                var own = metadata.OfType<Microsoft.AspNetCore.Http.Metadata.IEndpointSummaryMetadata>().Select(m => m.Summary)
                    .LastOrDefault(m => !string.IsNullOrWhiteSpace(m) && !WolverineRouteName().IsMatch(m));
                operation.Summary = own
                    ?? metadata.OfType<MethodInfo>().Select(summaries.For).FirstOrDefault(s => s is not null)
                    ?? (string.IsNullOrWhiteSpace(operation.Summary) || WolverineRouteName().IsMatch(operation.Summary) ? null : operation.Summary)
                    ?? Humanize(operation.OperationId ?? path);

                // Hand-mapped endpoints (the registry's Confluent-shaped API, health) get an id from their method and path.
                operation.OperationId ??= OperationIdFor(context.Description.HttpMethod ?? "GET", path);

                var anonymous = metadata.OfType<IAllowAnonymous>().Any() || !metadata.OfType<IAuthorizeData>().Any();
                var scheme = path.StartsWith("/data/", StringComparison.Ordinal) ? Apps : People;
                operation.Security = anonymous && scheme == People
                    ? []
                    : [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, context.Document)] = [] }];

                operation.Responses ??= new OpenApiResponses();
                void Fails(int status, string why)
                {
                    if (operation.Responses.ContainsKey(status.ToString())) return;
                    operation.Responses[status.ToString()] = new OpenApiResponse
                    {
                        Description = why,
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            ["application/problem+json"] = new() { Schema = new OpenApiSchemaReference("Problem", context.Document) }
                        }
                    };
                }
                var method = context.Description.HttpMethod ?? "GET";
                if (operation.RequestBody is not null || operation.Parameters is { Count: > 0 } || method is "POST" or "PUT")
                    Fails(400, "The request is invalid: each error names the field and the rule it broke.");
                if (operation.Security.Count > 0)
                {
                    Fails(401, "No valid token was presented.");
                    Fails(403, "The caller may not do this: the error names the rule.");
                }
                if (path.Contains('{'))
                    Fails(404, "Nothing by that name, or nothing the caller may see.");
                if (method is "POST" or "PUT")
                    Fails(409, "It conflicts with the current state (a stale expected_version, a decision already made).");
                Fails(429, "Too many requests: wait for Retry-After.");
                Fails(503, "The ledger cannot record it now, so it is refused.");
                return Task.CompletedTask;
            });
        });
    }

    private static OpenApiSchema ProblemSchema() => new()
    {
        Type = JsonSchemaType.Object,
        Description = "RFC 9457 problem details; errors lists each violation with its field and rule.",
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Array,
                Items = new OpenApiSchema
                {
                    Type = JsonSchemaType.Object,
                    Properties = new Dictionary<string, IOpenApiSchema>
                    {
                        ["field"] = new OpenApiSchema { Type = JsonSchemaType.String },
                        ["rule"] = new OpenApiSchema { Type = JsonSchemaType.String },
                        ["message"] = new OpenApiSchema { Type = JsonSchemaType.String }
                    }
                }
            }
        }
    };

    /// <summary>GET /registry/subjects/{subject}/versions → getRegistrySubjectsSubjectVersions.</summary>
    private static string OperationIdFor(string method, string path) =>
        method.ToLowerInvariant() + string.Concat(path.Split('/', StringSplitOptions.RemoveEmptyEntries)
            .Select(s => s.Trim('{', '}')).Select(s => string.Concat(s.Split('-', '_', '.').Where(p => p.Length > 0).Select(p => char.ToUpperInvariant(p[0]) + p[1..]))));

    /// <summary>"registerAppFromTemplate" → "Register app from template".</summary>
    private static string Humanize(string name)
    {
        var words = CamelWords().Replace(name.Trim('/'), " $1").Trim().ToLowerInvariant();
        return words.Length == 0 ? name : char.ToUpperInvariant(words[0]) + words[1..];
    }

    [GeneratedRegex("^(GET|POST|PUT|DELETE|PATCH)_")]
    private static partial Regex WolverineRouteName();

    [GeneratedRegex("([A-Z])")]
    private static partial Regex CamelWords();

    /// <summary>The first sentence of each handler's (or its class's) summary doc comment, from the documentation file built beside the assembly.</summary>
    private sealed partial class DocSummaries(Dictionary<string, string> members)
    {
        public static DocSummaries Load()
        {
            var file = Path.Combine(AppContext.BaseDirectory, "GovernanceLedger.xml");
            if (!File.Exists(file)) return new DocSummaries([]);
            var members = XDocument.Load(file).Descendants("member")
                .Select(m => (Name: (string?)m.Attribute("name") ?? "", Summary: m.Element("summary")))
                .Where(m => m.Summary is not null)
                .ToDictionary(m => m.Name, m => FirstSentence(m.Summary!), StringComparer.Ordinal);
            return new DocSummaries(members);
        }

        public string? For(MethodInfo method)
        {
            var type = method.DeclaringType?.FullName?.Replace('+', '.');
            if (type is null) return null;
            var prefix = $"M:{type}.{method.Name}";
            var own = members.FirstOrDefault(m => m.Key == prefix || m.Key.StartsWith(prefix + "(", StringComparison.Ordinal)).Value;
            return own ?? members.GetValueOrDefault($"T:{type}");
        }

        private static string FirstSentence(XElement summary)
        {
            // <see cref="X"/> and <c>x</c> read as their text.
            var text = string.Join("", summary.Nodes().Select(n => n switch
            {
                XText t => t.Value,
                XElement { Name.LocalName: "see" } e => ((string?)e.Attribute("cref") ?? "").Split('.', ':').Last(),
                XElement e => e.Value,
                _ => ""
            }));
            text = Whitespace().Replace(text, " ").Trim();
            var end = text.IndexOf(". ", StringComparison.Ordinal);
            return (end > 0 ? text[..(end + 1)] : text).TrimEnd();
        }

        [GeneratedRegex(@"\s+")]
        private static partial Regex Whitespace();
    }
}
