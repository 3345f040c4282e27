using GovernanceLedger.Apps.IssuingTokens;
using GovernanceLedger.Security.KeyCustody;
using Microsoft.Extensions.Options;

namespace GovernanceLedger.Security;

public static class SecuritySetup
{
    /// <summary>App credentials: the key store, the ledger's signing keys, token settings and the token writer.</summary>
    public static WebApplicationBuilder AddCredentials(this WebApplicationBuilder builder)
    {
        builder.AddKeyCustody();
        builder.Services.Configure<TokenSettings>(builder.Configuration.GetSection("Tokens"));
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<TokenSettings>>().Value);
        builder.Services.AddSingleton<SigningKeys>();
        builder.Services.AddSingleton<AppTokenWriter>();
        builder.Services.AddSingleton<PeopleTokenValidator>();
        return builder;
    }

    /// <summary>POST /dev/tokens mints people tokens. Mapped only in Development; nowhere else does it exist.</summary>
    public static void MapDevelopmentIssuer(this WebApplication app)
    {
        var audience = app.Configuration["People:Audience"] ?? "governance-ledger";
        app.MapPost("/dev/tokens", (DevTokenRequest request, DevelopmentIssuer issuer) =>
        {
            if (string.IsNullOrWhiteSpace(request.Sub) || request.Sub.Length > 200)
                return GovernanceLedger.Infrastructure.Problem.Invalid("sub", "required", "sub (1 to 200 characters) is required.").ToResult();
            var unknown = (request.Roles ?? []).Where(r => !Role.All.Contains(r)).ToList();
            if (unknown.Count > 0)
                return GovernanceLedger.Infrastructure.Problem.Invalid("roles", "enum",
                    $"Unknown roles: {string.Join(", ", unknown)}. Known: {string.Join(", ", Role.All)}.").ToResult();
            var (token, expiresIn) = issuer.Mint(request, audience);
            return Results.Ok(new { access_token = token, token_type = "Bearer", expires_in = expiresIn });
        }).AllowAnonymous().WithTags("Development");
    }
}
