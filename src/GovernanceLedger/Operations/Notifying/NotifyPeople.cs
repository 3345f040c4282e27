using System.Net.Http.Json;
using System.Text;
using GovernanceLedger.Infrastructure;
using Microsoft.Extensions.Options;
using Wolverine.ErrorHandling;
using Wolverine.Runtime.Handlers;

namespace GovernanceLedger.Operations.Notifying;

/// <summary>
/// A message for people (an app's owner and security) about something the ledger did. It leaves through Wolverine's
/// durable outbox in the same transaction as the events it reports, so it is sent even if the process dies right
/// after, and retried until the channel takes it. <paramref name="Id"/> lets a receiver drop a repeat.
/// </summary>
public sealed record NotifyPeople(Guid Id, string AppId, string Kind, IReadOnlyList<string> To, string Subject, string Body, DateTimeOffset At);

/// <summary>Where notifications go: a webhook (JSON POST) and/or a mail drop directory of .eml files an SMTP relay picks up.</summary>
public sealed class NotificationOptions
{
    public const string Section = "Notifications";
    public string? WebhookUrl { get; set; }
    public string? MailDirectory { get; set; }
    public string SecurityMailbox { get; set; } = "security@example.com";
    public string FinanceMailbox { get; set; } = "finance@example.com";
    public string From { get; set; } = "governance-ledger@localhost";
}

public static class NotifyPeopleHandler
{
    /// <summary>A channel that is down is tried again later, and the message kept until it answers.</summary>
    public static void Configure(HandlerChain chain) =>
        chain.OnException<HttpRequestException>().Or<IOException>().Or<TaskCanceledException>()
            .RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30))
            .Then.ScheduleRetry(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15), TimeSpan.FromHours(1));

    public static async Task Handle(NotifyPeople message, IOptions<NotificationOptions> options, IHttpClientFactory clients,
        ILogger<NotifyPeople> logger, CancellationToken ct)
    {
        var channels = options.Value;
        if (channels.WebhookUrl is not { Length: > 0 } && channels.MailDirectory is not { Length: > 0 })
        {
            logger.LogWarning("No notification channel is configured (Notifications:WebhookUrl or MailDirectory); {Kind} for {AppId} to {To}: {Subject}",
                message.Kind, message.AppId, string.Join(", ", message.To), message.Subject);
            return;
        }
        if (channels.WebhookUrl is { Length: > 0 } url)
        {
            using var response = await clients.CreateClient("notifications").PostAsJsonAsync(url, message, LedgerSetup.ApiJson, ct);
            response.EnsureSuccessStatusCode();
        }
        if (channels.MailDirectory is { Length: > 0 } directory)
            await WriteMailAsync(directory, channels.From, message, ct);
    }

    /// <summary>One RFC 5322 message per notification, written whole (a temporary file, then renamed) and once per id.</summary>
    private static async Task WriteMailAsync(string directory, string from, NotifyPeople message, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"{message.At.UtcDateTime:yyyyMMddTHHmmssZ}-{message.Id:N}.eml");
        if (File.Exists(path)) return;
        var mail = new StringBuilder()
            .Append("From: ").Append(from).Append("\r\n")
            .Append("To: ").Append(string.Join(", ", message.To)).Append("\r\n")
            .Append("Subject: ").Append(message.Subject).Append("\r\n")
            .Append("Date: ").Append(message.At.ToString("r")).Append("\r\n")
            .Append("Message-ID: <").Append(message.Id.ToString("N")).Append("@governance-ledger>\r\n")
            .Append("X-Ledger-App: ").Append(message.AppId).Append("\r\n")
            .Append("X-Ledger-Kind: ").Append(message.Kind).Append("\r\n")
            .Append("Content-Type: text/plain; charset=utf-8\r\n\r\n")
            .Append(message.Body.ReplaceLineEndings("\r\n")).Append("\r\n");
        var temporary = path + ".tmp";
        await File.WriteAllTextAsync(temporary, mail.ToString(), new UTF8Encoding(false), ct);
        File.Move(temporary, path, overwrite: true);
    }
}
