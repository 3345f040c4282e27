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
        app.MapPost("/dev/tokens", MintDevelopmentToken.Handle).AllowAnonymous().WithTags("Development");
    }
}
