using GovernanceLedger.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.WebConsole;

/// <summary>
/// The web console at /console: server-rendered pages (Razor components, static rendering, plain HTML forms) for
/// reviewers, auditors, security and finance. People sign in with OpenID Connect, authorization code with PKCE, against
/// the identity provider (People:Authority, client People:ConsoleClientId) or, in Development without one, the
/// development issuer. The session is an HttpOnly SameSite cookie; the people token stays on the server inside it
/// (encrypted by Data Protection) and the pages call the ledger's own API with it, so the console can do exactly what
/// its user's roles allow through the API and nothing more. No token ever reaches the page or browser storage.
/// </summary>
public static class ConsoleSetup
{
    public const string CookieScheme = "console";
    public const string SignInScheme = "console-oidc";
    public const string Policy = "console";
    public const string CallbackPath = "/console/signin-oidc";

    public static WebApplicationBuilder AddConsole(this WebApplicationBuilder builder)
    {
        var people = builder.Configuration.GetSection("People");
        var authority = people["Authority"];
        var clientId = people["ConsoleClientId"] ?? "governance-ledger-console";
        var development = string.IsNullOrWhiteSpace(authority) && builder.Environment.IsDevelopment();
        if (development) builder.Services.AddSingleton<DevelopmentSignIn>();

        builder.Services.AddAuthentication()
            .AddCookie(CookieScheme, options =>
            {
                options.Cookie.Name = "govledger-console";
                options.Cookie.HttpOnly = true;
                options.Cookie.SameSite = SameSiteMode.Lax;
                options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                options.Cookie.Path = "/console";
                options.ExpireTimeSpan = TimeSpan.FromMinutes(55);
                options.SlidingExpiration = false;
                options.ForwardChallenge = SignInScheme;
                options.AccessDeniedPath = "/console/forbidden";
            })
            .AddOpenIdConnect(SignInScheme, options =>
            {
                options.SignInScheme = CookieScheme;
                options.ClientId = clientId;
                options.ClientSecret = people["ConsoleClientSecret"];
                options.ResponseType = OpenIdConnectResponseType.Code;
                options.ResponseMode = OpenIdConnectResponseMode.Query;
                options.UsePkce = true;
                options.CallbackPath = CallbackPath;
                options.SaveTokens = true;
                options.MapInboundClaims = false;
                options.GetClaimsFromUserInfoEndpoint = false;
                options.TokenValidationParameters.NameClaimType = "email";
                options.TokenValidationParameters.RoleClaimType = PeopleAuthentication.RoleClaim;
                // The correlation and nonce cookies must survive the redirect back from the identity provider.
                options.CorrelationCookie.SameSite = SameSiteMode.Lax;
                options.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                options.NonceCookie.SameSite = SameSiteMode.Lax;
                options.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                // A callback that cannot complete (a forged or replayed code, an expired state) is a page that says so, not an error.
                options.Events.OnRemoteFailure = context =>
                {
                    context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("GovernanceLedger.Console")
                        .LogWarning(context.Failure, "A console sign-in did not complete");
                    context.Response.Redirect("/console/signed-out?failed=true");
                    context.HandleResponse();
                    return Task.CompletedTask;
                };
                if (!development)
                {
                    options.Authority = authority;
                    options.RequireHttpsMetadata = !builder.Environment.IsDevelopment();
                    return;
                }
                options.RequireHttpsMetadata = false;
                options.Configuration = new OpenIdConnectConfiguration
                {
                    Issuer = DevelopmentIssuer.Issuer,
                    AuthorizationEndpoint = DevelopmentSignIn.AuthorizePath,
                    // Codes are redeemed in process (below); nothing is ever sent to this address.
                    TokenEndpoint = "http://development-issuer.invalid/token"
                };
                options.Configuration.SigningKeys.Add(DevelopmentIssuer.SigningKey);
                options.TokenValidationParameters.ValidIssuer = DevelopmentIssuer.Issuer;
                options.TokenValidationParameters.IssuerSigningKey = DevelopmentIssuer.SigningKey;
                options.Events.OnAuthorizationCodeReceived = context =>
                {
                    var signIn = context.HttpContext.RequestServices.GetRequiredService<DevelopmentSignIn>();
                    var request = context.TokenEndpointRequest!;
                    var redeemed = signIn.Redeem(request.Code, request.GetParameter("code_verifier"), request.RedirectUri, request.ClientId);
                    if (redeemed is not { } tokens)
                    {
                        context.Fail("The authorization code was not accepted.");
                        return Task.CompletedTask;
                    }
                    context.HandleCodeRedemption(new OpenIdConnectMessage
                    {
                        IdToken = tokens.IdToken, AccessToken = tokens.AccessToken, TokenType = "Bearer",
                        ExpiresIn = tokens.ExpiresIn.ToString(System.Globalization.CultureInfo.InvariantCulture)
                    });
                    return Task.CompletedTask;
                };
            });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(Policy, p => p.AddAuthenticationSchemes(CookieScheme).RequireAuthenticatedUser());
        builder.Services.AddRazorComponents();
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddHttpClient(ConsoleApi.ClientName);
        builder.Services.AddScoped<ConsoleApi>();
        builder.Services.AddMemoryCache();
        builder.Services.AddSingleton<EmbedBackend>();
        builder.Services.AddSingleton<FlashMessages>();
        return builder;
    }

    public static void MapConsole(this WebApplication app)
    {
        if (app.Services.GetService<DevelopmentSignIn>() is not null) DevelopmentSignIn.Map(app);
        ConsoleActions.Map(app);
        EmbedBackend.Map(app);
        app.MapRazorComponents<Components.App>().RequireAuthorization(Policy);
    }

    /// <summary>Every console page: no framing by anyone, scripts and styles from the ledger itself only, forms posting back to it.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; " +
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

    /// <summary>
    /// An embedded micro app's own documents: framed only by the console (same origin), no network of its own (it asks its
    /// host by postMessage), scripts and styles from the ledger only. The console frames them sandboxed (allow-scripts
    /// only), so they run with an opaque origin: no cookie, no storage, no reach into the page around them.
    /// </summary>
    /// <remarks>
    /// Sources name the ledger's origin outright as well as 'self': a sandboxed document's own origin is opaque, and
    /// browsers differ on whether 'self' still matches the address it was loaded from.
    /// </remarks>
    public static string EmbeddedContentSecurityPolicy(string origin) =>
        $"default-src 'none'; script-src 'self' {origin}; style-src 'self' {origin}; img-src 'self' {origin} data:; connect-src 'none'; " +
        $"form-action 'none'; frame-ancestors 'self' {origin}; base-uri 'none'; sandbox allow-scripts";

    public static IApplicationBuilder UseConsoleHeaders(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.Request.Path.StartsWithSegments("/embedded"))
        {
            context.Response.Headers.ContentSecurityPolicy = EmbeddedContentSecurityPolicy($"{context.Request.Scheme}://{context.Request.Host}");
            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.Headers["Referrer-Policy"] = "no-referrer";
        }
        else if (context.Request.Path.StartsWithSegments("/console"))
        {
            context.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.Headers["Referrer-Policy"] = "same-origin";
            context.Response.Headers.CacheControl = "no-store";
        }
        await next();
    });
}
