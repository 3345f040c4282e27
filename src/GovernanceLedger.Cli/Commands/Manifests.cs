using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GovernanceLedger.Cli.Commands;

public class ManifestSettings : GlobalSettings
{
    [CommandOption("-f|--file <FILE>"), Description("The manifest (default: manifest.json here).")]
    public string File { get; init; } = "manifest.json";

    internal JsonObject Read()
    {
        if (!System.IO.File.Exists(File)) throw new CliException(ExitCodes.NotFound, $"No manifest at {File}. Create one with govledger init <template>.");
        try
        {
            return JsonNode.Parse(System.IO.File.ReadAllText(File)) as JsonObject
                ?? throw new CliException(ExitCodes.Refused, $"{File} must hold one JSON object.");
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Refused, $"{File} is not valid JSON: {e.Message}");
        }
    }
}

public sealed class RegisterSettings : ManifestSettings
{
    [CommandOption("--resubmit"), Description("Send the changed manifest of an app that was refused or is waiting for review (same app_id).")]
    public bool Resubmit { get; init; }
}

/// <summary>govledger validate: a dry run. What registering the manifest would come to, and what to change; nothing is written.</summary>
public sealed class ValidateCommand : LedgerCommand<ManifestSettings>
{
    protected override async Task<int> RunAsync(ManifestSettings settings, CancellationToken ct)
    {
        var reply = await Session.SendAsync(HttpMethod.Post, "/apps/validate", settings.Read(), ct: ct);
        if (settings.Json)
        {
            Session.Json(reply.Json);
            return reply.Ok ? (reply.Json?["valid"]?.GetValue<bool>() == true ? ExitCodes.Ok : ExitCodes.Refused) : ExitCodes.For(reply.Status);
        }
        if (!reply.Ok) return Refusal(reply);
        var report = reply.Json!;
        var valid = report["valid"]!.GetValue<bool>();
        foreach (var error in report["errors"]!.AsArray().OfType<JsonObject>())
            Session.Console.MarkupLineInterpolated($"[red]{Text(error["field"])}[/]: {Text(error["message"])} [grey]({Text(error["rule"])})[/]");
        Findings.Show(Session.Console, report["findings"]!.AsArray());
        if (valid) Session.Console.MarkupLineInterpolated($"[green]{Text(report["next"])}[/]");
        else Session.Console.MarkupLineInterpolated($"[red]{Text(report["next"])}[/]");
        return valid ? ExitCodes.Ok : ExitCodes.Refused;
    }
}

/// <summary>govledger register: registers the manifest (or resubmits it with --resubmit) and says what the policies decided.</summary>
public sealed class RegisterCommand : LedgerCommand<RegisterSettings>
{
    protected override async Task<int> RunAsync(RegisterSettings settings, CancellationToken ct)
    {
        var manifest = settings.Read();
        var appId = manifest["app_id"] is JsonValue v && v.TryGetValue<string>(out var id) ? id : "";
        var reply = settings.Resubmit
            ? await Session.SendAsync(HttpMethod.Put, $"/apps/{Uri.EscapeDataString(appId)}/manifest", manifest, ct: ct)
            : await Session.SendAsync(HttpMethod.Post, "/apps", manifest, ct: ct);
        if (settings.Json)
        {
            Session.Json(reply.Json);
            return ExitCodes.For(reply.Status);
        }
        if (reply.Json?["findings"] is JsonArray findings) Findings.Show(Session.Console, findings);
        if (!reply.Ok)
        {
            var code = Refusal(reply);
            if (reply.Status == 422 || reply.Text.Contains("app-id-taken", StringComparison.Ordinal))
                Session.Console.MarkupLine("Change manifest.json, then run [bold]govledger register --resubmit[/].");
            return code;
        }
        var status = reply.Str("status");
        var waits = status == "pending_review" ? $" and waits for {reply.Json!["required_approvals"]} reviewer approval(s)." : ".";
        if (status == "active") Session.Console.MarkupLineInterpolated($"[green]{reply.Str("app_id")} is {status}[/]{waits}");
        else Session.Console.MarkupLineInterpolated($"[yellow]{reply.Str("app_id")} is {status}[/]{waits}");
        if (status == "active") Session.Console.MarkupLineInterpolated($"Next: govledger token {reply.Str("app_id")}");
        return ExitCodes.Ok;
    }
}

internal static class Findings
{
    /// <summary>The policies that fired, with what to change; the ones that passed are counted, not listed.</summary>
    public static void Show(IAnsiConsole console, JsonArray findings)
    {
        var fired = findings.OfType<JsonObject>().Where(f => f["outcome"]?.GetValue<string>() != "pass").ToList();
        if (fired.Count > 0)
        {
            var table = new Table().AddColumns("Policy", "Outcome", "Why", "What to change");
            foreach (var f in fired)
                table.AddRow(Markup.Escape(f["policy_id"]!.GetValue<string>()), Markup.Escape(f["outcome"]!.GetValue<string>()),
                    Markup.Escape(f["reason"]!.GetValue<string>() + (f["findings"] is JsonArray { Count: > 0 } items ? ": " + string.Join(", ", items) : "")),
                    Markup.Escape(f["fix"]?.GetValue<string>() ?? ""));
            console.Write(table);
        }
        console.MarkupLineInterpolated($"[grey]{findings.Count - fired.Count} of {findings.Count} policies passed.[/]");
    }
}
