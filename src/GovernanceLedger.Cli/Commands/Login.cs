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
        if (settings.Email is not { Length: > 0 } email)
            throw new CliException(ExitCodes.Usage, "Say who you are: govledger login you@example.com [--role app-owner], or govledger login --token <JWT>.");
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
                $"{Session.Config.Url} has no development issuer (it is not a Development ledger). Sign in with your identity provider and run govledger login --token <JWT>.");
        if (!minted.Ok) return Refusal(minted);
        Session.Save(Session.Config with { Token = minted.Str("access_token"), SignedInAs = email });
        if (settings.Json) Session.Json(new JsonObject { ["signed_in_as"] = email, ["url"] = Session.Config.Url });
        else Session.Console.MarkupLineInterpolated($"[green]Signed in[/] to {Session.Config.Url} as {email}.");
        return ExitCodes.Ok;
    }
}
