using System.Diagnostics;

namespace GovernanceLedger.Tests.Operations;

/// <summary>The Prometheus alert rules shipped in deploy/prometheus pass promtool's own checks and unit tests.</summary>
public sealed class Alert_rules_tests
{
    private static string RulesDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GovernanceLedger.sln")))
                return Path.Combine(dir.FullName, "deploy", "prometheus");
        throw new DirectoryNotFoundException("GovernanceLedger.sln not found above " + AppContext.BaseDirectory);
    }

    private static async Task<(int Exit, string Output)> Promtool(params string[] args)
    {
        var start = new ProcessStartInfo("promtool") { WorkingDirectory = RulesDirectory(), RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("promtool is not installed: run the suite with ./scripts/test.sh, which installs Debian's prometheus package.", e);
        }
        using (process)
        {
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, output);
        }
    }

    [Fact]
    public async Task The_alert_rules_are_valid_and_their_unit_tests_pass()
    {
        var (checkExit, check) = await Promtool("check", "rules", "alerts.yml");
        checkExit.ShouldBe(0, check);
        check.ShouldContain("4 rules found");
        var (testExit, tested) = await Promtool("test", "rules", "alerts.test.yml");
        testExit.ShouldBe(0, tested);
        tested.ShouldContain("SUCCESS");
    }
}
