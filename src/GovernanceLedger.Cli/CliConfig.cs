using System.Text.Json;
using System.Text.Json.Serialization;

namespace GovernanceLedger.Cli;

/// <summary>
/// What login saves: the ledger's address and the person's token. Kept in $GOVLEDGER_CONFIG, else
/// ~/.config/govledger/config.json (readable by its owner only). $GOVLEDGER_TOKEN, when set, wins over the saved token.
/// </summary>
public sealed record CliConfig(
    [property: JsonPropertyName("url")] string Url,
    [property: JsonPropertyName("token")] string? Token = null,
    [property: JsonPropertyName("signed_in_as")] string? SignedInAs = null)
{
    public const string DefaultUrl = "http://127.0.0.1:5080";

    public static string DefaultPath() =>
        Environment.GetEnvironmentVariable("GOVLEDGER_CONFIG") is { Length: > 0 } path
            ? path
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "govledger", "config.json");

    public static CliConfig Load(string path)
    {
        var saved = File.Exists(path) ? JsonSerializer.Deserialize<CliConfig>(File.ReadAllText(path)) : null;
        var url = saved?.Url is { Length: > 0 } u ? u : Environment.GetEnvironmentVariable("GOVLEDGER_URL") is { Length: > 0 } e ? e : DefaultUrl;
        var token = Environment.GetEnvironmentVariable("GOVLEDGER_TOKEN") is { Length: > 0 } t ? t : saved?.Token;
        return new CliConfig(url, token, saved?.SignedInAs);
    }

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
