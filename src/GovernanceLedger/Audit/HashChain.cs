using System.Security.Cryptography;
using System.Text;

namespace GovernanceLedger.Audit;

/// <summary>One ledger event as the chain sees it: exactly the stored columns that must never change.</summary>
public sealed record ChainedEvent(long Sequence, string StreamId, long Version, string Type, DateTimeOffset Timestamp, string Data);

/// <summary>
/// The tamper-evidence chain. Each event's content hash covers its sequence, stream, version, type,
/// time and data (PostgreSQL's canonical jsonb text); each link hashes the previous link and that
/// content hash, so editing, deleting or reordering any event breaks every link after it.
/// </summary>
public static class HashChain
{
    public static readonly byte[] Genesis = new byte[32];

    public static string Canonical(ChainedEvent e) =>
        $"{e.Sequence}|{e.StreamId}|{e.Version}|{e.Type}|{e.Timestamp.UtcDateTime:yyyy-MM-ddTHH:mm:ss.ffffffZ}|{e.Data}";

    public static byte[] ContentHash(ChainedEvent e) => SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(e)));

    public static byte[] Link(byte[] previous, byte[] contentHash)
    {
        Span<byte> buffer = stackalloc byte[64];
        previous.CopyTo(buffer);
        contentHash.CopyTo(buffer[32..]);
        return SHA256.HashData(buffer);
    }

    public static string CheckpointStatement(long upToSequence, string linkHex) => $"{upToSequence}|{linkHex}";
}
