using System.ComponentModel;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GovernanceLedger.Cli.Commands;

public sealed class LoginSettings : GlobalSettings
{
    [CommandArgument(0, "[EMAIL]"), Description("Who to sign in as, with the development issuer (Development ledgers only).")]
    public string? Email { get; init; }

    [CommandOption("--role <ROLE>"), Description("A role to carry (app-owner, security-reviewer, platform-admin, auditor, finance); repeatable.")]
    public string[] Roles { get; init; } = [];

    [CommandOption("--group <GROUP>"), Description("A group the person belongs to (for apps whose audience is a group); repeatable.")]
    public string[] Groups { get; init; } = [];

    [CommandOption("--region <REGION>"), Description("The person's region (row-level security), e.g. EMEA.")]
    public string? Region { get; init; }

    [CommandOption("--token <JWT>"), Description("A token from your identity provider, to save instead of using the development issuer.")]
    public string? Token { get; init; }

    [CommandOption("--device"), Description("Sign in with your identity provider's device-code flow (OIDC): open a page, enter a code.")]
    public bool Device { get; init; }

    [CommandOption("--issuer <URL>"), Description("The identity provider (default: the one the ledger names at /auth/cli).")]
    public string? Issuer { get; init; }

    [CommandOption("--client-id <ID>"), Description("The OAuth client registered for the command line (default: the ledger's).")]
    public string? ClientId { get; init; }
}

/// <summary>
/// govledger login: saves who you are for the next commands. On a Development ledger the development issuer mints a
/// token for the e-mail given; elsewhere, paste a token from your identity provider with --token.
/// </summary>
public sealed class LoginCommand : LedgerCommand<LoginSettings>
{
    protected override async Task<int> RunAsync(LoginSettings settings, CancellationToken ct)
    {
        if (settings.Token is { Length: > 0 } pasted)
        {
            Session.Save(Session.Config with { Token = pasted, SignedInAs = null });
            var check = await Session.SendAsync(HttpMethod.Get, "/templates", ct: ct);
            if (!check.Ok) return Refusal(check);
            Session.Console.MarkupLine("[green]Signed in[/] with the token given.");
            return ExitCodes.Ok;
        }
        if (settings.Device) return await DeviceAsync(settings, ct);
        if (settings.Email is not { Length: > 0 } email)
            throw new CliException(ExitCodes.Usage,
                "Say who you are: govledger login you@example.com [--role app-owner] on a Development ledger; elsewhere govledger login --device, or --token <JWT>.");
        var request = new JsonObject
        {
            ["sub"] = email, ["email"] = email,
            ["roles"] = new JsonArray((settings.Roles.Length == 0 ? ["app-owner"] : settings.Roles).Select(r => (JsonNode)r).ToArray()),
            ["groups"] = new JsonArray(settings.Groups.Select(g => (JsonNode)g).ToArray())
        };
        if (settings.Region is { Length: > 0 } region) request["region"] = region;
        var minted = await Session.SendAsync(HttpMethod.Post, "/dev/tokens", request, token: "", ct: ct);
        if (minted.Status == 404)
            throw new CliException(ExitCodes.NotAllowed,
                $"{Session.Config.Url} has no development issuer (it is not a Development ledger). Sign in with your identity provider: govledger login --device.");
        if (!minted.Ok) return Refusal(minted);
        Session.Save(Session.Config with { Token = minted.Str("access_token"), SignedInAs = email });
        if (settings.Json) Session.Json(new JsonObject { ["signed_in_as"] = email, ["url"] = Session.Config.Url });
        else Session.Console.MarkupLineInterpolated($"[green]Signed in[/] to {Session.Config.Url} as {email}.");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// OAuth 2.0 device authorization (RFC 8628) against the identity provider the ledger names: show the code, poll
    /// the token endpoint at the interval it asks for, and keep the token only when the ledger accepts it.
    /// </summary>
    private async Task<int> DeviceAsync(LoginSettings settings, CancellationToken ct)
    {
        var described = await Session.SendAsync(HttpMethod.Get, "/auth/cli", token: "", ct: ct);
        var issuer = settings.Issuer ?? described.Str("issuer")
            ?? throw new CliException(ExitCodes.NotAllowed, $"{Session.Config.Url} names no identity provider (People:Authority); pass --issuer.");
        var clientId = settings.ClientId ?? described.Str("client_id") ?? "govledger-cli";
        var identity = Session.Identity;
        JsonNode discovery;
        try
        {
            discovery = JsonNode.Parse(await identity.GetStringAsync(issuer.TrimEnd('/') + "/.well-known/openid-configuration", ct))!;
        }
        catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException)
        {
            throw new CliException(ExitCodes.Unavailable, $"The identity provider {issuer} does not answer with its OpenID configuration ({e.Message}).");
        }
        var deviceEndpoint = discovery["device_authorization_endpoint"]?.GetValue<string>()
            ?? throw new CliException(ExitCodes.NotAllowed, $"{issuer} offers no device-code sign-in; sign in elsewhere and run govledger login --token <JWT>.");
        var tokenEndpoint = discovery["token_endpoint"]!.GetValue<string>();

        using var started = await identity.PostAsync(deviceEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = clientId, ["scope"] = described.Str("scope") ?? "openid email profile", ["audience"] = described.Str("audience") ?? "governance-ledger"
        }), ct);
        var device = JsonNode.Parse(await started.Content.ReadAsStringAsync(ct))!;
        if (!started.IsSuccessStatusCode)
            throw new CliException(ExitCodes.NotAllowed, $"The identity provider refused to start a sign-in: {device["error_description"] ?? device["error"]}.");
        var where = device["verification_uri_complete"]?.GetValue<string>() ?? device["verification_uri"]!.GetValue<string>();
        Session.Console.MarkupLineInterpolated($"Open [bold]{where}[/] and enter the code [bold]{device["user_code"]!.GetValue<string>()}[/].");

        var interval = TimeSpan.FromSeconds(device["interval"]?.GetValue<int>() ?? 5);
        var until = DateTimeOffset.UtcNow.AddSeconds(device["expires_in"]?.GetValue<int>() ?? 600);
        while (DateTimeOffset.UtcNow < until)
        {
            await Task.Delay(interval, ct);
            using var polled = await identity.PostAsync(tokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "urn:ietf:params:oauth:grant-type:device_code", ["device_code"] = device["device_code"]!.GetValue<string>(), ["client_id"] = clientId
            }), ct);
            var answer = JsonNode.Parse(await polled.Content.ReadAsStringAsync(ct))!;
            if (polled.IsSuccessStatusCode)
            {
                var token = answer["access_token"]!.GetValue<string>();
                var check = await Session.SendAsync(HttpMethod.Get, "/templates", token: token, ct: ct);
                if (!check.Ok)
                    throw new CliException(ExitCodes.NotAllowed,
                        $"You signed in, but {Session.Config.Url} does not accept the identity provider's token (HTTP {check.Status}): its issuer or audience is not the ledger's.");
                Session.Save(Session.Config with { Token = token, SignedInAs = null });
                Session.Console.MarkupLine("[green]Signed in[/] with your identity provider.");
                return ExitCodes.Ok;
            }
            switch (answer["error"]?.GetValue<string>())
            {
                case "authorization_pending": continue;
                case "slow_down": interval += TimeSpan.FromSeconds(5); continue;
                case "access_denied": throw new CliException(ExitCodes.NotAllowed, "The sign-in was declined.");
                case "expired_token": throw new CliException(ExitCodes.NotAllowed, "The code ran out before it was entered; run govledger login --device again.");
                default: throw new CliException(ExitCodes.NotAllowed, $"The identity provider refused the sign-in: {answer["error_description"] ?? answer["error"]}.");
            }
        }
        throw new CliException(ExitCodes.NotAllowed, "The code ran out before it was entered; run govledger login --device again.");
    }
}
