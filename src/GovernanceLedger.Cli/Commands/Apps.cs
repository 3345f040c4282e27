using System.ComponentModel;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GovernanceLedger.Cli.Commands;

public class AppSettings : GlobalSettings
{
    [CommandArgument(0, "<APP_ID>"), Description("The app's id.")]
    public string AppId { get; init; } = "";
}

public sealed class AppActionSettings : AppSettings
{
    [CommandOption("-r|--reason <REASON>"), Description("Why: recorded on the app's timeline (required).")]
    public string? Reason { get; init; }
}

/// <summary>govledger apps list: the apps you may see (your own; every app for reviewers, auditors and admins).</summary>
public sealed class AppsListCommand : LedgerCommand<GlobalSettings>
{
    protected override async Task<int> RunAsync(GlobalSettings settings, CancellationToken ct) =>
        Answer(settings, await Session.SendAsync(HttpMethod.Get, "/apps", ct: ct), json =>
        {
            var apps = (json as JsonArray ?? json["apps"] as JsonArray ?? []).OfType<JsonObject>().ToList();
            var table = new Table().AddColumns("App", "Status", "Owner", "Expires");
            foreach (var app in apps)
                table.AddRow(Markup.Escape(Text(app["app_id"] ?? app["id"])), Markup.Escape(Text(app["status"])), Markup.Escape(Text(app["owner"])),
                    Markup.Escape(Text(app["expires_at"])));
            Session.Console.Write(table);
            Session.Console.MarkupLineInterpolated($"[grey]{apps.Count} app(s)[/]");
        });
}

/// <summary>govledger apps show: one app's catalog entry.</summary>
public sealed class AppsShowCommand : LedgerCommand<AppSettings>
{
    protected override async Task<int> RunAsync(AppSettings settings, CancellationToken ct) =>
        Answer(settings, await Session.SendAsync(HttpMethod.Get, $"/apps/{Uri.EscapeDataString(settings.AppId)}", ct: ct), json =>
        {
            var grid = new Grid().AddColumn().AddColumn();
            foreach (var key in new[] { "app_id", "status", "status_reason", "owner", "scopes", "connectors", "expires_at", "manifest_version", "version" })
                if (json[key] is { } value) grid.AddRow(Markup.Escape(key), Markup.Escape(Text(value)));
            if (json["datasets"] is JsonArray datasets)
                grid.AddRow("datasets", Markup.Escape(string.Join("; ", datasets.OfType<JsonObject>().Select(d => $"{Text(d["name"])} ({Text(d["fields"])})"))));
            Session.Console.Write(grid);
        });
}

/// <summary>govledger apps approve|reject: a reviewer's decision, with the reason recorded.</summary>
public sealed class AppsDecideCommand : LedgerCommand<AppActionSettings>
{
    protected override async Task<int> RunAsync(AppActionSettings settings, CancellationToken ct)
    {
        var decision = Name;
        var reply = await Session.SendAsync(HttpMethod.Post, $"/apps/{Uri.EscapeDataString(settings.AppId)}/approvals",
            new JsonObject { ["decision"] = decision, ["reason"] = settings.Reason }, ct: ct);
        return Answer(settings, reply, json => Session.Console.MarkupLineInterpolated($"{settings.AppId} is now [bold]{Text(json["status"])}[/]."));
    }
}

/// <summary>govledger apps pause|resume|renew|retire: a lifecycle action, with the reason recorded.</summary>
public sealed class AppsLifecycleCommand : LedgerCommand<AppActionSettings>
{
    protected override async Task<int> RunAsync(AppActionSettings settings, CancellationToken ct)
    {
        var action = Name;
        var reply = await Session.SendAsync(HttpMethod.Post, $"/apps/{Uri.EscapeDataString(settings.AppId)}/{action}",
            new JsonObject { ["reason"] = settings.Reason }, ct: ct);
        return Answer(settings, reply, json => Session.Console.MarkupLineInterpolated($"{settings.AppId} is now [bold]{Text(json["status"])}[/]."));
    }
}

