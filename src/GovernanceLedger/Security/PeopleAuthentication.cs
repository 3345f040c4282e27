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

        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(null)
            .AddPolicy(Policies.Person, p => p.RequireAuthenticatedUser())
            .AddPolicy(Policies.Reviewer, p => p.RequireRole(Role.SecurityReviewer, Role.PlatformAdmin))
            .AddPolicy(Policies.Admin, p => p.RequireRole(Role.PlatformAdmin));
        return builder;
    }

    public static class Policies
    {
        public const string Person = "person";
        public const string Reviewer = "reviewer";
        public const string Admin = "admin";
    }
}
