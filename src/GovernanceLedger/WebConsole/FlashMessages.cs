using Microsoft.AspNetCore.DataProtection;

namespace GovernanceLedger.WebConsole;

/// <summary>
/// The outcome of a form, carried to the page it redirects to. It is sealed with Data Protection, so a link someone else
/// made cannot put words of theirs into the console's own banners; a message older than ten minutes is not shown.
/// </summary>
public sealed class FlashMessages(IDataProtectionProvider provider)
{
    private readonly ITimeLimitedDataProtector _protector = provider.CreateProtector("GovernanceLedger.Console.Flash").ToTimeLimitedDataProtector();

    public string Seal(string message) => _protector.Protect(message.Length > 500 ? message[..500] : message, TimeSpan.FromMinutes(10));

    public string? Open(string? sealedMessage)
    {
        if (string.IsNullOrEmpty(sealedMessage)) return null;
        try
        {
            return _protector.Unprotect(sealedMessage);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }
}
