using System.Security.Cryptography;
using System.Text;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// PII masking for tokens without the PII scope. "partial" keeps enough to recognise a value
/// (j***@example.com, *** 1234), "hash" gives a salted, stable token usable for joins and
/// counting, "redact" removes the value.
/// </summary>
public sealed class Masking(byte[] salt)
{
    public object? Apply(string strategy, object? value)
    {
        if (value is null or DBNull) return null;
        var text = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
        return strategy switch
        {
            "partial" => Partial(text),
            "redact" => "[redacted]",
            _ => Hash(text)
        };
    }

    private static readonly System.Buffers.SearchValues<char> NotInOneAddress = System.Buffers.SearchValues.Create(" \t\r\n\"'{}[](),;:<>\\");

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _keys = new(StringComparer.Ordinal);

    /// <summary>
    /// A keyed hash for one purpose: what a warehouse export stores for a column computed from PII. A plain SHA-256 of an
    /// address is matched by hashing a list of likely addresses; this one cannot be without the salt. It stays the same
    /// while the salt does, so equal values still join.
    /// </summary>
    public byte[] Keyed(string purpose, ReadOnlySpan<byte> value) =>
        HMACSHA256.HashData(_keys.GetOrAdd(purpose, p => HMACSHA256.HashData(salt, Encoding.UTF8.GetBytes("keyed:" + p))), value);

    public string Hash(string text) =>
        "h:" + Convert.ToHexStringLower(HMACSHA256.HashData(salt, Encoding.UTF8.GetBytes(text)))[..20];

    private static string Partial(string text)
    {
        // The domain is kept only of what is one address: in a list or a JSON text, what follows the first '@' could be
        // other people's addresses whole.
        var at = text.IndexOf('@');
        if (at > 0 && text.IndexOf('@', at + 1) < 0 && text.AsSpan().IndexOfAny(NotInOneAddress) < 0) return text[..1] + "***" + text[at..];
        var digits = new string(text.Where(char.IsDigit).ToArray());
        return digits.Length >= 4 ? "*** " + digits[^4..] : "***";
    }
}
