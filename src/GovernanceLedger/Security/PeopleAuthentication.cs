using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security;

/// <summary>
/// People (owners, reviewers, auditors, finance) sign in with a bearer JWT from an OIDC issuer.
/// Outside Development the authority must be configured; in Development a local issuer exists
/// so the whole flow runs on one machine.
/// </summary>
public static class PeopleAuthentication
{
    public const string Scheme = JwtBearerDefaults.AuthenticationScheme;
    public const string RoleClaim = "roles";

    public static WebApplicationBuilder AddPeopleAuthentication(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection("People");
        var authority = section["Authority"];
        var audience = section["Audience"] ?? "governance-ledger";
        var useDevIssuer = string.IsNullOrWhiteSpace(authority) && builder.Environment.IsDevelopment();
        if (string.IsNullOrWhiteSpace(authority) && !useDevIssuer)
            throw new InvalidOperationException(
                "People:Authority must name the OIDC issuer for people tokens outside the Development environment.");

        if (useDevIssuer)
            builder.Services.AddSingleton<DevelopmentIssuer>();

        builder.Services.AddAuthentication(Scheme)
            .AddJwtBearer(Scheme, options =>
            {
                options.MapInboundClaims = false;
                options.Audience = audience;
                // Refusals are one plain sentence: no library error codes, key ids or parser internals.
                options.IncludeErrorDetails = false;
                options.Events = new JwtBearerEvents
                {
                    // The data plane carries app tokens, checked (and cached) by the app scheme alone: reading them
                    // as people tokens first would cost a failed signature check on every gateway and proxy request.
                    OnMessageReceived = context =>
                    {
                        if (AppTokenAuthentication.IsDataPlane(context.Request.Path)) context.NoResult();
                        return Task.CompletedTask;
                    },
                    OnChallenge = async context =>
                    {
                        context.HandleResponse();
                        context.Response.Headers.WWWAuthenticate = "Bearer";
                        await Plain(context.Response, StatusCodes.Status401Unauthorized, "Unauthenticated",
                            "Sign in first: this needs a valid people token (Authorization: Bearer).");
                    },
                    OnForbidden = context => Plain(context.Response, StatusCodes.Status403Forbidden, "Forbidden",
                        "Your roles do not allow this request.")
                };
                options.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidateIssuer = true,
                    ValidateAudience = true,
                    ValidateLifetime = true,
                    ValidateIssuerSigningKey = true,
                    RequireSignedTokens = true,
                    RequireExpirationTime = true,
                    ValidAlgorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256],
                    ClockSkew = TimeSpan.FromSeconds(30),
                    NameClaimType = "sub",
                    RoleClaimType = RoleClaim,
                    ValidAudience = audience
                };
                if (useDevIssuer)
                {
                    options.TokenValidationParameters.ValidIssuer = DevelopmentIssuer.Issuer;
                    options.TokenValidationParameters.IssuerSigningKey = DevelopmentIssuer.SigningKey;
                }
                else
                {
                    options.Authority = authority;
                    options.RequireHttpsMetadata = section.GetValue("RequireHttpsMetadata", true);
                }
            });

        builder.Services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, PolicyRefusals>();
        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(null)
            .AddPolicy(Policies.Person, p => p.RequireAuthenticatedUser())
            .AddPolicy(Policies.Registrant, p => p.RequireRole(Role.AppOwner, Role.PlatformAdmin))
            // The named policies and Caller.IsReviewer/IsAdmin agree: agents and names that cannot be compared hold no such power.
            .AddPolicy(Policies.Reviewer, p => p.RequireRole(Role.SecurityReviewer, Role.PlatformAdmin)
                .RequireAssertion(context => Governs(context.User)))
            .AddPolicy(Policies.Admin, p => p.RequireRole(Role.PlatformAdmin).RequireAssertion(context => Governs(context.User)))
            .AddPolicy(Policies.Finance, p => p.RequireRole(Role.Finance, Role.PlatformAdmin).RequireAssertion(context => Governs(context.User)));
        return builder;
    }

    private static Task Plain(HttpResponse response, int status, string title, string sentence)
    {
        response.StatusCode = status;
        var problem = new Microsoft.AspNetCore.Mvc.ProblemDetails
        {
            Status = status, Title = title, Detail = sentence, Type = $"https://governance-ledger.dev/problems/{title.ToLowerInvariant()}"
        };
        // Confluent's registry clients read error_code and message.
        if (response.HttpContext.Request.Path.StartsWithSegments("/registry"))
        {
            problem.Extensions["error_code"] = status * 100 + 1;
            problem.Extensions["message"] = $"{(status == 401 ? "Unauthorized" : "Forbidden")}: {sentence}";
        }
        return Results.Problem(problem).ExecuteAsync(response.HttpContext);
    }

    /// <summary>Every requirement is evaluated, even for an anonymous caller: only a signed-in person can govern.</summary>
    private static bool Governs(System.Security.Claims.ClaimsPrincipal user) =>
        user.Identity?.IsAuthenticated == true && user.FindFirst("sub") is not null && Caller.From(user).Governs;

    public static class Policies
    {
        public const string Person = "person";
        /// <summary>Registering an app: app owners and platform admins.</summary>
        public const string Registrant = "registrant";
        public const string Reviewer = "reviewer";
        public const string Admin = "admin";
        /// <summary>Setting budgets: finance and platform admins.</summary>
        public const string Finance = "finance";
    }
}
