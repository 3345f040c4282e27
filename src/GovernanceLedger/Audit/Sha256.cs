using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace GovernanceLedger.Audit;

/// <summary>
/// SHA-256 for the chain's many small inputs. On Linux, .NET hashes through OpenSSL 3's EVP API,
/// which looks the algorithm up and allocates a context on every call: about 2.7 µs for 65 bytes
/// here, against 0.27 µs for OpenSSL's own SHA256_Init/Update/Final on a stack context (same SHA-NI
/// code underneath). Verify and the Merkle tree hash millions of 32- to 500-byte inputs, so they use
/// those functions when libcrypto exports them, and SHA256.HashData everywhere else.
/// </summary>
public static unsafe class Sha256
{
    private const int ContextSize = 128;   // sizeof(SHA256_CTX) is 112
    private static readonly delegate* unmanaged<byte*, int> Init;
    private static readonly delegate* unmanaged<byte*, byte*, nuint, int> Update;
    private static readonly delegate* unmanaged<byte*, byte*, int> Final;

    static Sha256()
    {
        if (!OperatingSystem.IsLinux()) return;
        foreach (var name in new[] { "libcrypto.so.3", "libcrypto.so" })
        {
            if (!NativeLibrary.TryLoad(name, out var library)) continue;
            if (NativeLibrary.TryGetExport(library, "SHA256_Init", out var init)
                && NativeLibrary.TryGetExport(library, "SHA256_Update", out var update)
                && NativeLibrary.TryGetExport(library, "SHA256_Final", out var final))
            {
                Init = (delegate* unmanaged<byte*, int>)init;
                Update = (delegate* unmanaged<byte*, byte*, nuint, int>)update;
                Final = (delegate* unmanaged<byte*, byte*, int>)final;
                if (SelfTestPasses()) return;
                Init = null;
            }
        }
    }

    /// <summary>Whether the OpenSSL fast path is in use (else SHA256.HashData).</summary>
    public static bool Native => Init != null;

    public static void Hash(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (Init == null)
        {
            SHA256.HashData(data, destination);
            return;
        }
        if (destination.Length < 32) throw new ArgumentException("SHA-256 needs 32 bytes", nameof(destination));
        var context = stackalloc byte[ContextSize];
        fixed (byte* input = data)
        fixed (byte* output = destination)
        {
            if (Init(context) != 1 || Update(context, input, (nuint)data.Length) != 1 || Final(output, context) != 1)
                throw new CryptographicException("OpenSSL SHA256 failed");
        }
    }

    public static byte[] Hash(ReadOnlySpan<byte> data)
    {
        var hash = new byte[32];
        Hash(data, hash);
        return hash;
    }

    private static bool SelfTestPasses()
    {
        Span<byte> input = stackalloc byte[300];
        Span<byte> fast = stackalloc byte[32];
        for (var i = 0; i < input.Length; i++) input[i] = (byte)(i * 7);
        foreach (var length in new[] { 0, 1, 55, 56, 64, 65, 300 })
        {
            Hash(input[..length], fast);
            if (!fast.SequenceEqual(SHA256.HashData(input[..length]))) return false;
        }
        return true;
    }
}
