using Spectre.Console;

namespace GovernanceLedger.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        return await GovLedgerCli.RunAsync(args, new CliSession(http, AnsiConsole.Console, Console.Out, CliConfig.DefaultPath()));
    }
}
