using System.ComponentModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GovernanceLedger.Cli;

/// <summary>What every command can count on: where the ledger is, who is signed in, and where output goes.</summary>
public sealed class CliSession(HttpClient http, IAnsiConsole console, TextWriter output, string configPath, HttpClient? identity = null)
{
    public HttpClient Http => http;
    /// <summary>For the identity provider (device-code sign-in): the same client, unless a test gives another.</summary>
    public HttpClient Identity => identity ?? http;
    public IAnsiConsole Console => console;
    public TextWriter Output => output;
    public string ConfigPath => configPath;
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public CliConfig Config { get; private set; } = CliConfig.Load(configPath);

    public void Save(CliConfig config)
    {
        Config = config;
        config.Save(configPath);
    }

    /// <summary>One call to the ledger with the signed-in person's token (or the given one).</summary>
    public async Task<Reply> SendAsync(HttpMethod method, string path, JsonNode? body = null, string? token = null, string? accept = null,
        CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(method, new Uri(new Uri(Config.Url.TrimEnd('/') + "/"), path.TrimStart('/')));
        if ((token ?? Config.Token) is { Length: > 0 } bearer) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (accept is not null) request.Headers.Accept.ParseAdd(accept);
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        try
        {
            using var response = await http.SendAsync(request, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            JsonNode? json = null;
            if (response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.OrdinalIgnoreCase) == true && text.Length > 0)
            {
                try { json = JsonNode.Parse(text); }
                catch (JsonException) { }
            }
            return new Reply((int)response.StatusCode, json, text);
        }
        catch (HttpRequestException e)
        {
            throw new CliException(ExitCodes.Unavailable,
                $"The ledger at {Config.Url} cannot be reached ({e.Message}). Is it running? Start it with ./scripts/run.sh, or point --url at it.");
        }
    }

    /// <summary>
    /// A call whose answer is a stream of JSON lines (progress): each line is handed over as it arrives. A refusal comes
    /// back whole as <c>Reply</c>.
    /// </summary>
    public async Task<(Reply? Reply, int Lines)> StreamAsync(HttpMethod method, string path, Action<string> line, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(new Uri(Config.Url.TrimEnd('/') + "/"), path.TrimStart('/')));
        if (Config.Token is { Length: > 0 } bearer) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException e)
        {
            throw new CliException(ExitCodes.Unavailable, $"The ledger at {Config.Url} cannot be reached ({e.Message}).");
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                JsonNode? json = null;
                try { json = text.Length > 0 ? JsonNode.Parse(text) : null; }
                catch (JsonException) { }
                return (new Reply((int)response.StatusCode, json, text), 0);
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
            var count = 0;
            while (await reader.ReadLineAsync(ct) is { } next)
                if (next.Length > 0) { line(next); count++; }
            return (null, count);
        }
    }

    /// <summary>Writes JSON as it came (for --json), indented.</summary>
    public void Json(JsonNode? node) => output.WriteLine(node?.ToJsonString(Indented) ?? "null");

    public void Line(string markup) => console.MarkupLine(markup);
}

public sealed record Reply(int Status, JsonNode? Json, string Text)
{
    public bool Ok => Status is >= 200 and < 300;
    public string? Str(string name) => Json?[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}

/// <summary>What the command line exits with, so scripts can tell outcomes apart.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A policy refused, or the input is invalid: the answer says what to change.</summary>
    public const int Refused = 1;
    /// <summary>The command line itself was wrong (unknown command, missing argument).</summary>
    public const int Usage = 2;
    /// <summary>Not signed in, or not allowed.</summary>
    public const int NotAllowed = 3;
    /// <summary>No such app, dataset or file.</summary>
    public const int NotFound = 4;
    /// <summary>The ledger is unreachable or failed.</summary>
    public const int Unavailable = 5;

    public static int For(int status) => status switch
    {
        >= 200 and < 300 => Ok,
        401 or 403 => NotAllowed,
        404 => NotFound,
        400 or 409 or 413 or 422 or 429 => Refused,
        _ => Unavailable
    };
}

/// <summary>A failure the user should read: its message and the exit code.</summary>
public sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode => exitCode;
}

/// <summary>Options every command takes.</summary>
public class GlobalSettings : CommandSettings
{
    [CommandOption("--json"), Description("Write the ledger's JSON answer instead of tables (for scripts).")]
    public bool Json { get; init; }

    [CommandOption("--url <URL>"), Description("The ledger's address (default: the one saved by login, else $GOVLEDGER_URL, else http://127.0.0.1:5080).")]
    public string? Url { get; init; }
}

/// <summary>The base of every command: the session, --url, and one way to report what the ledger refused.</summary>
public abstract class LedgerCommand<TSettings> : AsyncCommand<TSettings> where TSettings : GlobalSettings
{
    protected CliSession Session { get; private set; } = null!;
    /// <summary>The word the command was run as (one class serves approve and reject, pause and resume...).</summary>
    protected string Name { get; private set; } = "";

    public sealed override async Task<int> ExecuteAsync(CommandContext context, TSettings settings, CancellationToken cancellationToken)
    {
        Session = (CliSession)context.Data!;
        Name = context.Name;
        if (settings.Url is { Length: > 0 } url) Session.Save(Session.Config with { Url = url });
        try
        {
            return await RunAsync(settings, cancellationToken);
        }
        catch (CliException e)
        {
            Session.Console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return e.ExitCode;
        }
    }

    protected abstract Task<int> RunAsync(TSettings settings, CancellationToken ct);

    /// <summary>Prints the answer as JSON (--json) or via <paramref name="show"/>; a refusal is explained either way.</summary>
    protected int Answer(TSettings settings, Reply reply, Action<JsonNode> show)
    {
        if (settings.Json)
        {
            Session.Json(reply.Json ?? JsonValue.Create(reply.Text));
            return ExitCodes.For(reply.Status);
        }
        if (!reply.Ok) return Refusal(reply);
        if (reply.Json is not null) show(reply.Json);
        return ExitCodes.Ok;
    }

    /// <summary>A problem+json answer in words: its detail, then each field and rule.</summary>
    protected int Refusal(Reply reply)
    {
        var console = Session.Console;
        if (reply.Status == (int)HttpStatusCode.Unauthorized)
        {
            console.MarkupLine("[red]You are not signed in, or your sign-in ran out.[/] Run [bold]govledger login[/] first.");
            return ExitCodes.NotAllowed;
        }
        var detail = reply.Str("detail") ?? reply.Str("title") ?? (reply.Text.Length > 0 ? reply.Text : $"HTTP {reply.Status}");
        console.MarkupLineInterpolated($"[red]{detail}[/]");
        if (reply.Json?["errors"] is JsonArray errors)
            foreach (var error in errors.OfType<JsonObject>())
            {
                var field = error["field"]?.GetValue<string>();
                console.MarkupLineInterpolated($"  - {(string.IsNullOrEmpty(field) ? "" : field + ": ")}{error["message"]?.GetValue<string>()} [grey]({error["rule"]?.GetValue<string>()})[/]");
            }
        return ExitCodes.For(reply.Status);
    }

    protected static string Text(JsonNode? node) => node switch
    {
        null => "",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonArray a => string.Join(", ", a.Select(Text)),
        _ => node.ToJsonString()
    };
}
