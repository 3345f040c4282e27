using System.ComponentModel;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GovernanceLedger.Cli.Commands;

public sealed class ChargebackSettings : GlobalSettings
{
    [CommandOption("--month <YYYY-MM>"), Description("The month (default: this month).")]
    public string? Month { get; init; }

    [CommandOption("--by <GROUPING>"), Description("app (default), owner or cost_center.")]
    public string By { get; init; } = "app";

    [CommandOption("--csv"), Description("Write the report as CSV, for a spreadsheet.")]
    public bool Csv { get; init; }
}

/// <summary>govledger chargeback: what each app (owner, cost centre) cost in a month.</summary>
public sealed class ChargebackCommand : LedgerCommand<ChargebackSettings>
{
    protected override async Task<int> RunAsync(ChargebackSettings settings, CancellationToken ct)
    {
        var month = settings.Month ?? DateTime.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        var path = $"/chargeback?month={Uri.EscapeDataString(month)}&group_by={Uri.EscapeDataString(settings.By)}";
        if (settings.Csv)
        {
            var csv = await Session.SendAsync(HttpMethod.Get, path, accept: "text/csv", ct: ct);
            if (!csv.Ok) return Refusal(csv);
            Session.Output.Write(csv.Text);
            return ExitCodes.Ok;
        }
        return Answer(settings, await Session.SendAsync(HttpMethod.Get, path, ct: ct), json =>
        {
            var currency = Text(json["currency"]);
            var table = new Table().AddColumns(settings.By, "Requests", "Rows", "MB", "Compute s", $"Amount {currency}");
            foreach (var line in json["lines"]!.AsArray().OfType<JsonObject>().Append(json["total"]!.AsObject()))
                table.AddRow(Markup.Escape(Text(line["key"])), Text(line["requests"]), Text(line["rows"]), Text(line["megabytes"]),
                    Text(line["compute_seconds"]), Text(line["amount"]));
            Session.Console.Write(table);
        });
    }
}

/// <summary>govledger rebuild: rebuilds every read model from the ledger (blue/green), printing each step as the ledger reports it.</summary>
public sealed class RebuildCommand : LedgerCommand<GlobalSettings>
{
    protected override async Task<int> RunAsync(GlobalSettings settings, CancellationToken ct)
    {
        var lines = new JsonArray();
        var status = await Session.StreamAsync(HttpMethod.Post, "/admin/projections/rebuild", line =>
        {
            var step = JsonNode.Parse(line)!;
            lines.Add(step);
            if (settings.Json || step is not JsonObject o) return;
            var detail = string.Join(", ", o.Where(p => p.Key is not ("stage" or "step" or "projection")).Select(p => $"{p.Key} {Text(p.Value)}"));
            Session.Console.MarkupLineInterpolated($"[bold]{Text(o["stage"] ?? o["step"])}[/] {Text(o["projection"])} [grey]{detail}[/]");
        }, ct);
        if (status.Reply is { } refused) return settings.Json ? ExitCodes.For(refused.Status) : Refusal(refused);
        if (settings.Json) Session.Json(lines);
        return ExitCodes.Ok;
    }
}

/// <summary>govledger templates: the starting points init takes.</summary>
public sealed class TemplatesCommand : LedgerCommand<GlobalSettings>
{
    protected override async Task<int> RunAsync(GlobalSettings settings, CancellationToken ct) =>
        Answer(settings, await Session.SendAsync(HttpMethod.Get, "/templates", ct: ct), json =>
        {
            var table = new Table().AddColumns("Template", "What it is for", "Policy sets");
            foreach (var t in json.AsArray().OfType<JsonObject>())
                table.AddRow(Markup.Escape(Text(t["id"])), Markup.Escape(Text(t["description"])), Markup.Escape(Text(t["policy_sets"])));
            Session.Console.Write(table);
        });
}
