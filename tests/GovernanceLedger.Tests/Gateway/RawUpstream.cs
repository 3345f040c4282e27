using System.Net;
using System.Net.Sockets;
using System.Text;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>
/// An upstream that answers with bytes no well-behaved server sends, one answer per path, for the gateway's checks of what
/// an upstream may make it record: each connection takes one request, gets its answer and is closed.
/// </summary>
public sealed class RawUpstream : IAsyncDisposable
{
    private const string Contact = """{"contact_id":1,"name":"Alice","email":"alice@example.com","phone":"+1 555 0101","company":"Acme"}""";

    /// <summary>The answers by path: the status line, headers and body exactly as sent.</summary>
    private static readonly Dictionary<string, string> Answers = new()
    {
        // A length of 0 beside a chunked body: the chunked body is the answer (RFC 9112 6.3), and it carries PII.
        ["/cl0-chunked"] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
            + $"{Encoding.UTF8.GetByteCount(Contact):x}\r\n{Contact}\r\n0\r\n\r\n",
        // An error that echoes the record it complains about.
        ["/problem-400"] = $"HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\nContent-Length: {Encoding.UTF8.GetByteCount(Contact)}\r\n\r\n{Contact}",
        // 205 Reset Content with a body the server may not send on.
        ["/reset-205"] = $"HTTP/1.1 205 Reset Content\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(Contact)}\r\n\r\n{Contact}",
    };

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public RawUpstream()
    {
        _listener.Start();
        _accepting = Task.Run(AcceptAsync);
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            _ = Task.Run(() => AnswerAsync(client));
        }
    }

    private static async Task AnswerAsync(TcpClient client)
    {
        using (client)
        {
            var stream = client.GetStream();
            var request = new StringBuilder();
            var buffer = new byte[4096];
            while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer);
                if (read == 0) return;
                request.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
            var path = request.ToString().Split(' ', 3)[1].Split('?')[0];
            var answer = Answers.TryGetValue(path, out var known) ? known : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
            await stream.WriteAsync(Encoding.UTF8.GetBytes(answer));
            await stream.FlushAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
    }
}
