using System.ComponentModel;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GovernanceLedger.Cli.Commands;

public sealed class ExportSettings : GlobalSettings
{
    [CommandOption("-o|--output <FILE>"), Description("Where to write the export (default: ledger-chain.ndjson).")]
    public string Output { get; init; } = "ledger-chain.ndjson";
}

/// <summary>govledger audit timeline: an app's lifecycle events in order, who did what and why.</summary>
public sealed class AuditTimelineCommand : LedgerCommand<AppSettings>
{
    protected override async Task<int> RunAsync(AppSettings settings, CancellationToken ct) =>
        Answer(settings, await Session.SendAsync(HttpMethod.Get, $"/apps/{Uri.EscapeDataString(settings.AppId)}/events", ct: ct), json =>
        {
            var table = new Table().AddColumns("#", "When", "What", "Who", "Detail");
            foreach (var e in json.AsArray().OfType<JsonObject>())
            {
                var data = e["data"] as JsonObject ?? [];
                var detail = data["reason"] ?? data["outcome"] ?? data["status"];
                table.AddRow(Markup.Escape(Text(e["version"])), Markup.Escape(Text(e["recorded_at"])), Markup.Escape(Text(e["type"])),
                    Markup.Escape(Text(data["actor"])), Markup.Escape(Text(detail)));
            }
            Session.Console.Write(table);
        });
}

/// <summary>govledger audit verify: checks the whole ledger against its hash chain and the witness; exits 1 when it is not intact.</summary>
public sealed class AuditVerifyCommand : LedgerCommand<GlobalSettings>
{
    protected override async Task<int> RunAsync(GlobalSettings settings, CancellationToken ct)
    {
        var reply = await Session.SendAsync(HttpMethod.Get, "/audit/verify", ct: ct);
        var intact = reply.Ok && reply.Json?["intact"]?.GetValue<bool>() == true;
        var code = Answer(settings, reply, json =>
        {
            if (intact)
                Session.Console.MarkupLineInterpolated($"[green]Intact:[/] {Text(json["events_checked"])} events and {Text(json["checkpoints_checked"])} checkpoints checked, up to sequence {Text(json["to"])}.");
            else
                Session.Console.MarkupLineInterpolated($"[red]NOT intact:[/] {Text(json["first_broken"])}");
        });
        return code == ExitCodes.Ok && !intact ? ExitCodes.Refused : code;
    }
}

/// <summary>govledger audit export: the hash chain and its events, for checking offline (scripts/verify_ledger.py).</summary>
public sealed class AuditExportCommand : LedgerCommand<ExportSettings>
{
    protected override async Task<int> RunAsync(ExportSettings settings, CancellationToken ct)
    {
        var reply = await Session.SendAsync(HttpMethod.Get, "/audit/chain-export", ct: ct);
        if (!reply.Ok) return settings.Json ? ExitCodes.For(reply.Status) : Refusal(reply);
        await File.WriteAllTextAsync(settings.Output, reply.Text, ct);
        var lines = reply.Text.Count(c => c == '\n');
        if (settings.Json) Session.Json(new JsonObject { ["file"] = Path.GetFullPath(settings.Output), ["lines"] = lines });
        else Session.Console.MarkupLineInterpolated($"[green]Wrote[/] {lines} lines to {settings.Output}.");
        return ExitCodes.Ok;
    }
}
