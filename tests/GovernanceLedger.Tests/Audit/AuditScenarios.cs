using GovernanceLedger.Audit;
using GovernanceLedger.Audit.Witness;
using Microsoft.Extensions.DependencyInjection;

namespace GovernanceLedger.Tests.Audit;

/// <summary>What an auditor does through the API, and the one thing tests do behind it: ask the chainer for a checkpoint now.</summary>
public static class AuditScenarios
{
    public static LedgerChainer Chainer(this LedgerFixture ledger) => ledger.Host.Services.GetRequiredService<LedgerChainer>();

    public static string WitnessDirectory(this LedgerFixture ledger) => ledger.Host.Services.GetRequiredService<IChainWitness>().Location;

    /// <summary>Registers an app and waits until the chain covers its events; returns their sequence numbers.</summary>
    public static async Task<long[]> ChainedApp(this LedgerFixture ledger, string prefix = "chain")
    {
        var appId = await ledger.ActiveApp(prefix);
        var sequences = (await ledger.StreamOf(appId)).Select(e => e.Sequence).ToArray();
        await ledger.Chained(sequences.Max());
        return sequences;
    }

    public static Task Chained(this LedgerFixture ledger, long sequence) =>
        LedgerFixture.EventuallyAsync(() => Task.FromResult(ledger.Chainer().LastChained >= sequence), TimeSpan.FromSeconds(20));

    /// <summary>A signed, witnessed checkpoint over everything committed so far; returns its tree size.</summary>
    public static async Task<long> CheckpointNow(this LedgerFixture ledger)
    {
        await LedgerFixture.EventuallyAsync(() => Task.FromResult(ledger.Chainer().IsLeader), TimeSpan.FromSeconds(20));
        return await ledger.Chainer().CheckpointNowAsync(CancellationToken.None);
    }

    public static async Task<VerificationReport> Verify(this LedgerFixture ledger, long from = 1, long to = long.MaxValue)
    {
        var auditor = await ledger.PersonToken("auditor@example.com", "auditor");
        var response = await ledger.Get($"/audit/verify?from={from}&to={to}", auditor);
        response.Status.ShouldBe(200, response.Text);
        return System.Text.Json.JsonSerializer.Deserialize<VerificationReport>(response.Text, GovernanceLedger.Infrastructure.LedgerSetup.ApiJson)!;
    }

    /// <summary>GETs a path as an auditor and saves the body in a temporary file for the offline verifier.</summary>
    public static async Task<string> Download(this LedgerFixture ledger, string path)
    {
        var response = await ledger.Get(path, await ledger.PersonToken("auditor@example.com", "auditor"));
        response.Status.ShouldBe(200, response.Text);
        var file = Path.Combine(Path.GetTempPath(), $"govledger-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, response.Text);
        return file;
    }

    /// <summary>The offline verifier over the JWKS, the witness directory and an export of the whole chain.</summary>
    public static async Task<(int ExitCode, string Output)> VerifyOffline(this LedgerFixture ledger, params string[] more)
    {
        var jwks = await ledger.Download("/.well-known/jwks.json");
        var export = await ledger.Download("/audit/chain-export");
        return await Tampering.OfflineVerifier(["--jwks", jwks, "--witness", ledger.WitnessDirectory(), "--export", export, .. more]);
    }

    public static string Describe(this VerificationReport report) =>
        $"intact={report.Intact} chained={report.ChainedUpTo} witnessed={report.WitnessedUpTo}: " + string.Join("; ", report.Problems.Select(p => $"{p.Sequence} {p.Reason} ({p.Detail[..Math.Min(p.Detail.Length, 160)]})"));
}

/// <summary>A ledger of its own (database, host, key store, witness) for tests that truncate, restart or rewrite it.</summary>
public sealed class IsolatedLedger : LedgerFixture, IAsyncDisposable
{
    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    public static async Task<IsolatedLedger> StartAsync()
    {
        var ledger = new IsolatedLedger();
        await ledger.InitializeAsync();
        return ledger;
    }

    /// <summary>Short patience: rolled-back sequence numbers become recorded holes in half a second.</summary>
    public override Dictionary<string, string?> DataPlaneSettings() => new(base.DataPlaneSettings()) { ["Audit:GapPatience"] = "00:00:00.5" };
}
