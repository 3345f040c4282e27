using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace GovernanceLedger.Tests;

/// <summary>The real host as a separate process: for crashes, and for faults no in-process host should share.</summary>
public static class ChildHost
{
    public static string Assembly()
    {
        var testBin = AppContext.BaseDirectory;
        var hostBin = testBin.Replace(Path.Combine("tests", "GovernanceLedger.Tests"), Path.Combine("src", "GovernanceLedger"));
        var dll = Path.Combine(hostBin, "GovernanceLedger.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"Build the host first: {dll} is missing.");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts the host on a port with the fixture's databases; <paramref name="ledgerConnection"/> overrides the ledger's.</summary>
    /// <param name="maxFileKilobytes">
    /// When set, no file the host writes may grow beyond this many KB (the shell's soft file-size limit, its signal
    /// ignored so a write past it fails with EFBIG): a disk that is full for this host alone. Raise it again with
    /// <see cref="LiftFileSizeLimit"/>.
    /// </param>
    public static Process Start(LedgerFixture ledger, int port, string? ledgerConnection = null, IDictionary<string, string>? settings = null,
        int? maxFileKilobytes = null)
    {
        var info = maxFileKilobytes is { } kb
            ? new ProcessStartInfo("/bin/bash", ["-c", $"trap '' XFSZ; ulimit -S -f {kb}; exec dotnet \"$0\" --urls \"$1\"", Assembly(), $"http://127.0.0.1:{port}"])
            : new ProcessStartInfo("dotnet", [Assembly(), "--urls", $"http://127.0.0.1:{port}"]);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.WorkingDirectory = Path.GetDirectoryName(Assembly())!;
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        info.Environment["ConnectionStrings__Ledger"] = ledgerConnection ?? ledger.ConnectionString;
        info.Environment["ConnectionStrings__SalesDb"] = ledger.SalesConnectionString;
        info.Environment["Gateway__Routes__0__Upstream"] = ledger.Upstream.Url;
        info.Environment["Gateway__DemoUpstreamUrl"] = "";
        info.Environment["Demo__Seed"] = "false";
        // The warehouse file belongs to the fixture's own host, which shares this ledger database.
        info.Environment["Warehouse__Scheduled"] = "false";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Lifts a host's file-size limit (see <see cref="Start"/>): its disk has room again.</summary>
    public static void LiftFileSizeLimit(Process host)
    {
        using var prlimit = Process.Start(new ProcessStartInfo("prlimit", ["--pid", host.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--fsize=unlimited:unlimited"])
            { RedirectStandardError = true })!;
        var error = prlimit.StandardError.ReadToEnd();
        prlimit.WaitForExit();
        if (prlimit.ExitCode != 0) throw new InvalidOperationException($"prlimit failed: {error}");
    }

    public static async Task WaitHealthy(HttpClient client, Process process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"The host exited with {process.ExitCode} while starting.");
            try
            {
                using var health = await client.GetAsync("/health");
                if (health.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException("The host did not become healthy.");
    }

    /// <summary>
    /// An app token issued by the child host itself for an EMEA end user of the app (the suite's own host runs on a
    /// clock that tests move through time, so its tokens may not hold here).
    /// </summary>
    public static async Task<string> AppTokenAsync(HttpClient client, string appId, string user)
    {
        using var person = await client.PostAsync("/dev/tokens", new StringContent(
            $$"""{"sub":"{{user}}","region":"EMEA","groups":["{{DataPlaneScenarios.EndUsers}}"]}""", System.Text.Encoding.UTF8, "application/json"));
        var personToken = System.Text.Json.Nodes.JsonNode.Parse(await person.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
        using var issue = new HttpRequestMessage(HttpMethod.Post, $"/apps/{appId}/tokens");
        issue.Headers.Authorization = new("Bearer", personToken);
        using var issued = await client.SendAsync(issue);
        return System.Text.Json.Nodes.JsonNode.Parse(await issued.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
    }
}

/// <summary>A TCP relay to PostgreSQL that can be cut and restored, so a host sees its database go away for real.</summary>
public sealed class TcpRelay(int listenPort, string targetHost, int targetPort) : IAsyncDisposable
{
    private TcpListener? _listener;
    private readonly List<TcpClient> _open = [];
    private CancellationTokenSource _stop = new();

    public int Port => listenPort;

    public void Start()
    {
        _stop = new CancellationTokenSource();
        _listener = new TcpListener(IPAddress.Loopback, listenPort);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        _ = AcceptAsync(_listener, _stop.Token);
    }

    /// <summary>Closes the listener and every relayed connection.</summary>
    public void Cut()
    {
        _stop.Cancel();
        _listener?.Stop();
        lock (_open)
        {
            foreach (var client in _open) client.Dispose();
            _open.Clear();
        }
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try { inbound = await listener.AcceptTcpClientAsync(stop); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            var outbound = new TcpClient();
            try { await outbound.ConnectAsync(targetHost, targetPort, stop); }
            catch (Exception e) when (e is OperationCanceledException or SocketException) { inbound.Dispose(); outbound.Dispose(); continue; }
            lock (_open) { _open.Add(inbound); _open.Add(outbound); }
            _ = PumpAsync(inbound, outbound, stop);
            _ = PumpAsync(outbound, inbound, stop);
        }
    }

    private static async Task PumpAsync(TcpClient from, TcpClient to, CancellationToken stop)
    {
        try { await from.GetStream().CopyToAsync(to.GetStream(), stop); }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException) { }
        finally { from.Dispose(); to.Dispose(); }
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        return ValueTask.CompletedTask;
    }
}
