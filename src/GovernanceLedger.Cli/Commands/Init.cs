using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GovernanceLedger.Cli.Commands;

public sealed class InitSettings : GlobalSettings
{
    [CommandArgument(0, "<TEMPLATE>"), Description("The template to start from (govledger templates lists them), e.g. sales-lookup.")]
    public string Template { get; init; } = "";

    [CommandOption("--dir <DIR>"), Description("Where to write the app's folder (default: a new folder named after the app).")]
    public string? Directory { get; init; }

    [CommandOption("--app-id <ID>"), Description("The app's id (default: the template's id and a short random suffix).")]
    public string? AppId { get; init; }

    [CommandOption("--read-only"), Description("Leave out the template's write scopes: a read-only app that writes nothing needs no review for writes.")]
    public bool ReadOnly { get; init; }
}

/// <summary>
/// govledger init: scaffolds a micro app from a template: manifest.json (the template's defaults, you as owner) and
/// app.sh, a minimal app that gets an app token for its end user and reads through the data proxy and the gateway.
/// </summary>
public sealed class InitCommand : LedgerCommand<InitSettings>
{
    protected override async Task<int> RunAsync(InitSettings settings, CancellationToken ct)
    {
        var templates = await Session.SendAsync(HttpMethod.Get, "/templates", ct: ct);
        if (!templates.Ok) return Refusal(templates);
        var template = templates.Json!.AsArray().OfType<JsonObject>().FirstOrDefault(t => t["id"]?.GetValue<string>() == settings.Template);
        if (template is null)
            throw new CliException(ExitCodes.NotFound, $"No template '{settings.Template}'. Templates: " +
                string.Join(", ", templates.Json!.AsArray().Select(t => t?["id"]?.GetValue<string>())));
        var owner = Session.Config.SignedInAs
            ?? throw new CliException(ExitCodes.NotAllowed, "Sign in with govledger login you@example.com first: the manifest names you as its owner.");
        var appId = settings.AppId ?? $"{settings.Template}-{Guid.NewGuid().ToString("N")[..6]}";
        var manifest = (JsonObject)template["defaults"]!.DeepClone();
        manifest.Insert(0, "app_id", appId);
        manifest.Insert(1, "owner", owner);
        manifest["description"] ??= template["description"]?.GetValue<string>();
        manifest["template"] = settings.Template;
        if (template["policy_sets"] is JsonArray { Count: > 0 } sets) manifest["policy_sets"] = sets.DeepClone();
        if (template["quotas"] is JsonObject quotas) manifest["quotas"] = quotas.DeepClone();
        if (settings.ReadOnly && manifest["scopes"] is JsonArray scopes)
            manifest["scopes"] = new JsonArray(scopes.Where(s => s?.GetValue<string>().StartsWith("write:", StringComparison.Ordinal) != true)
                .Select(s => s!.DeepClone()).ToArray());

        var folder = settings.Directory ?? appId;
        if (System.IO.Directory.Exists(folder) && System.IO.Directory.EnumerateFileSystemEntries(folder).Any())
            throw new CliException(ExitCodes.Refused, $"{folder} exists and is not empty; choose another with --dir.");
        System.IO.Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, "manifest.json"), manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n", ct);
        var first = manifest["datasets"] is JsonArray { Count: > 0 } ds ? ds[0]!.AsObject() : null;
        var dataset = first?["name"]!.GetValue<string>();
        var fields = first is null ? "" : string.Join(",", first["fields"]!.AsArray().Take(3).Select(f => f!.GetValue<string>()));
        await File.WriteAllTextAsync(Path.Combine(folder, "app.sh"), AppScript(appId, dataset, fields), ct);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(Path.Combine(folder, "app.sh"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        if (settings.Json) Session.Json(new JsonObject { ["app_id"] = appId, ["directory"] = Path.GetFullPath(folder), ["manifest"] = manifest.DeepClone() });
        else
        {
            Session.Console.MarkupLineInterpolated($"[green]Created[/] {folder}/manifest.json and {folder}/app.sh for [bold]{appId}[/].");
            Session.Console.MarkupLineInterpolated($"Next: cd {folder} && govledger validate && govledger register");
        }
        return ExitCodes.Ok;
    }

    private static string AppScript(string appId, string? dataset, string fields) => $$"""
        #!/usr/bin/env bash
        # {{appId}}: a minimal micro app. It never holds a database password or a long-lived key: it asks the
        # ledger for a short-lived app token for its signed-in end user, then reads only through the ledger.
        set -euo pipefail
        LEDGER=${GOVLEDGER_URL:-{{CliConfig.DefaultUrl}}}
        # The end user's own sign-in token (govledger login saves one; a real app gets it from its identity provider).
        USER_TOKEN=${USER_TOKEN:?set USER_TOKEN to the end user's token}
        APP_TOKEN=$(curl -sf -X POST "$LEDGER/apps/{{appId}}/tokens" -H "authorization: Bearer $USER_TOKEN" \
          -H 'content-type: application/json' -d '{}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
        {{(dataset is null
            ? "curl -s \"$LEDGER/gw/surveys/responses\" -H \"authorization: Bearer $APP_TOKEN\""
            : $"curl -s -X POST \"$LEDGER/data/{dataset}/query\" -H \"authorization: Bearer $APP_TOKEN\" -H 'content-type: application/json' \\\n  -d '{{\"fields\":[\"{fields.Replace(",", "\",\"")}\"],\"limit\":10}}'")}}
        echo
        """;
}
