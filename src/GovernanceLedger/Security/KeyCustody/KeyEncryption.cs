using System.Security.Cryptography;
using System.Text;

namespace GovernanceLedger.Security.KeyCustody;

/// <summary>
/// Encrypts private keys at rest with AES-256-GCM under a key-encryption key derived (HKDF-SHA256)
/// from the secret in the environment. The associated data binds each ciphertext to its kid and
/// purpose, so a key file cannot be renamed into another key or another purpose.
/// </summary>
public sealed class KeyEncryption
{
    private readonly byte[] _kek;

    public KeyEncryption(string secret)
    {
        if (secret.Length < KeySettings.MinimumSecretLength)
            throw new InvalidOperationException(
                $"{KeySettings.SecretVariable} must be at least {KeySettings.MinimumSecretLength} characters (for example: openssl rand -base64 48).");
        _kek = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32,
            salt: "governance-ledger/keys/v1"u8.ToArray(), info: "key-encryption"u8.ToArray());
    }

    public SealedKey Seal(byte[] plaintext, string keyId, string purpose)
    {
        var nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[AesGcm.TagByteSizes.MaxSize];
        using var aes = new AesGcm(_kek, tag.Length);
        aes.Encrypt(nonce, plaintext, ciphertext, tag, Aad(keyId, purpose));
        return new SealedKey("A256GCM", Convert.ToBase64String(nonce), Convert.ToBase64String(ciphertext), Convert.ToBase64String(tag));
    }

    /// <summary>Throws AuthenticationTagMismatchException when the secret is wrong or the file was altered.</summary>
    public byte[] Open(SealedKey sealedKey, string keyId, string purpose)
    {
        if (sealedKey.Enc != "A256GCM") throw new InvalidOperationException($"Key {keyId}: unknown encryption '{sealedKey.Enc}'.");
        var ciphertext = Convert.FromBase64String(sealedKey.Ciphertext);
        var tag = Convert.FromBase64String(sealedKey.Tag);
        var plaintext = new byte[ciphertext.Length];
        using var aes = new AesGcm(_kek, tag.Length);
        aes.Decrypt(Convert.FromBase64String(sealedKey.Nonce), ciphertext, tag, plaintext, Aad(keyId, purpose));
        return plaintext;
    }

    private static byte[] Aad(string keyId, string purpose) => Encoding.UTF8.GetBytes($"governance-ledger-key|{keyId}|{purpose}");
}

public sealed record SealedKey(string Enc, string Nonce, string Ciphertext, string Tag);
