using System.ComponentModel;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GovernanceLedger.Cli.Commands;

public sealed class TokenSettings : AppSettings
{
    [CommandOption("--scope <SCOPE>"), Description("Narrow the token to this scope; repeatable (default: every scope the app was granted).")]
    public string[] Scopes { get; init; } = [];

    [CommandOption("--expires-in <SECONDS>"), Description("How long the token lives, in seconds.")]
    public int? ExpiresIn { get; init; }

    [CommandOption("--sandbox"), Description("A sandbox token: synthetic data through the data proxy, for an app not approved yet.")]
    public bool Sandbox { get; init; }
}

public sealed class QuerySettings : GlobalSettings
{
    [CommandArgument(0, "<DATASET>"), Description("The dataset to read (govledger datasets lists them).")]
    public string Dataset { get; init; } = "";

    [CommandOption("--app <APP_ID>"), Description("The app to read as; a token is issued for you as its end user.")]
    public string? App { get; init; }

    [CommandOption("--app-token <JWT>"), Description("An app token to use instead of --app.")]
    public string? AppToken { get; init; }

    [CommandOption("--fields <FIELDS>"), Description("Comma-separated fields to read.")]
    public string Fields { get; init; } = "";

    [CommandOption("--where <FIELD=VALUE>"), Description("A filter: field=value (equality); repeatable.")]
    public string[] Where { get; init; } = [];

    [CommandOption("--limit <N>"), Description("At most this many rows.")]
    public int Limit { get; init; } = 20;

    [CommandOption("--sandbox"), Description("Read synthetic rows with a sandbox token (works before the app is approved).")]
    public bool Sandbox { get; init; }
}

/// <summary>govledger token: a short-lived app token for you as the app's end user.</summary>
public sealed class TokenCommand : LedgerCommand<TokenSettings>
{
    protected override async Task<int> RunAsync(TokenSettings settings, CancellationToken ct)
    {
        var reply = settings.Sandbox
            ? await Session.SendAsync(HttpMethod.Post, $"/apps/{Uri.EscapeDataString(settings.AppId)}/sandbox/tokens", new JsonObject(), ct: ct)
            : await Issue(Session, settings.AppId, settings.Scopes, settings.ExpiresIn, ct);
        if (settings.Json)
        {
            Session.Json(reply.Json);
            return ExitCodes.For(reply.Status);
        }
        if (!reply.Ok) return Refusal(reply);
        // The token alone on standard output, so APP_TOKEN=$(govledger token my-app) works.
        Session.Output.WriteLine(reply.Str("access_token"));
        return ExitCodes.Ok;
    }

    internal static Task<Reply> Issue(CliSession session, string appId, string[] scopes, int? expiresIn, CancellationToken ct)
    {
        // Token exchange with your own sign-in: the app token names you as its end user (your region, your groups),
        // as an app's token names the person using it. Without it, an owner's token would carry no end user at all.
        var body = new JsonObject { ["subject_token"] = session.Config.Token };
        if (scopes.Length > 0) body["scopes"] = new JsonArray(scopes.Select(s => (JsonNode)s).ToArray());
        if (expiresIn is { } seconds) body["expires_in"] = seconds;
        return session.SendAsync(HttpMethod.Post, $"/apps/{Uri.EscapeDataString(appId)}/tokens", body, ct: ct);
    }
}

/// <summary>govledger query: reads a dataset through the data proxy, as the app would, and shows the rows (masked where the app may not see PII).</summary>
public sealed class QueryCommand : LedgerCommand<QuerySettings>
{
    protected override async Task<int> RunAsync(QuerySettings settings, CancellationToken ct)
    {
        var token = settings.AppToken;
        if (token is null)
        {
            if (settings.App is not { Length: > 0 } app)
                throw new CliException(ExitCodes.Usage, "Say which app reads: --app <APP_ID> (or --app-token <JWT>).");
            var issued = settings.Sandbox
                ? await Session.SendAsync(HttpMethod.Post, $"/apps/{Uri.EscapeDataString(app)}/sandbox/tokens", new JsonObject(), ct: ct)
                : await TokenCommand.Issue(Session, app, [], null, ct);
            if (!issued.Ok) return Refusal(issued);
            token = issued.Str("access_token");
        }
        var fields = settings.Fields.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (fields.Length == 0) throw new CliException(ExitCodes.Usage, "Name the fields to read: --fields customer_id,name (govledger datasets lists them).");
        var query = new JsonObject { ["fields"] = new JsonArray(fields.Select(f => (JsonNode)f).ToArray()), ["limit"] = settings.Limit };
        if (settings.Where.Length > 0)
            query["filter"] = new JsonArray(settings.Where.Select(w =>
            {
                var at = w.IndexOf('=');
                if (at <= 0) throw new CliException(ExitCodes.Usage, $"--where takes field=value, got '{w}'.");
                return (JsonNode)new JsonObject { ["field"] = w[..at], ["op"] = "eq", ["value"] = w[(at + 1)..] };
            }).ToArray());
        var reply = await Session.SendAsync(HttpMethod.Post, $"/data/{Uri.EscapeDataString(settings.Dataset)}/query", query, token, ct: ct);
        return Answer(settings, reply, json =>
        {
            var rows = json["rows"]!.AsArray().OfType<JsonObject>().ToList();
            var table = new Table().AddColumns(fields.Select(f => new TableColumn(Markup.Escape(f))).ToArray());
            foreach (var row in rows) table.AddRow(fields.Select(f => Markup.Escape(Text(row[f]))).ToArray());
            Session.Console.Write(table);
            var masked = json["masked_fields"] is JsonArray { Count: > 0 } m ? $"; masked: {Text(m)}" : "";
            Session.Console.MarkupLineInterpolated($"[grey]{rows.Count} row(s){masked}{(json["truncated"]?.GetValue<bool>() == true ? "; more rows exist" : "")}[/]");
            if (json["note"] is JsonValue note) Session.Console.MarkupLineInterpolated($"[yellow]{note.GetValue<string>()}[/]");
        });
    }
}

/// <summary>govledger datasets: what may be asked for, before registering anything.</summary>
public sealed class DatasetsCommand : LedgerCommand<GlobalSettings>
{
    protected override async Task<int> RunAsync(GlobalSettings settings, CancellationToken ct) =>
        Answer(settings, await Session.SendAsync(HttpMethod.Get, "/catalog/datasets", ct: ct), json =>
        {
            var table = new Table().AddColumns("Dataset", "Fields (PII marked *)", "Scopes", "Reached through", "Templates");
            foreach (var d in json["datasets"]!.AsArray().OfType<JsonObject>())
                table.AddRow(
                    Markup.Escape(Text(d["name"]) + (d["production"]?.GetValue<bool>() == true ? " (production)" : "")),
                    Markup.Escape(string.Join(", ", d["fields"]!.AsArray().OfType<JsonObject>().Select(f => Text(f["name"]) + (f["pii"]!.GetValue<bool>() ? "*" : "")))),
                    Markup.Escape(Text(d["connector_scopes"])),
                    Markup.Escape(string.Join(", ", d["access"]!.AsArray().OfType<JsonObject>().Select(a => $"{Text(a["method"])} {Text(a["path"])}"))),
                    Markup.Escape(Text(d["templates"])));
            Session.Console.Write(table);
            Session.Console.MarkupLineInterpolated($"[grey]PII fields are masked unless the app and its token carry {Text(json["pii_scope"])}.[/]");
        });
}
