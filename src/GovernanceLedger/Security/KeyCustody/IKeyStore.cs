using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security.KeyCustody;

/// <summary>What a key signs. Each purpose has its own keys and kids, so a leaked or misused key of one cannot sign the other.</summary>
public static class KeyPurposes
{
    public const string AppTokens = "app-tokens";
    public const string Checkpoints = "checkpoints";
    public static readonly IReadOnlyList<string> All = [AppTokens, Checkpoints];
}

/// <summary>The public half and the life of one key, as the store knows it. Never carries private material.</summary>
public sealed record KeyState(
    string KeyId, string Purpose, string Algorithm, string Modulus, string Exponent,
    DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt, DateTimeOffset? PublishedUntil)
{
    public bool IsActive => RetiredAt is null;

    /// <summary>The public key as JWK members (base64url modulus and exponent).</summary>
    public RsaSecurityKey VerificationKey() => new(new System.Security.Cryptography.RSAParameters
    {
        Modulus = Base64UrlEncoder.DecodeBytes(Modulus),
        Exponent = Base64UrlEncoder.DecodeBytes(Exponent)
    }) { KeyId = KeyId };
}

/// <summary>
/// Where the ledger's private keys live: outside PostgreSQL, so nobody who can read or rewrite the
/// ledger's tables can sign a token or a checkpoint. The default is <see cref="DirectoryKeyStore"/>
/// (files encrypted at rest); a KMS or HSM store implements the same four operations and hands out
/// signing keys whose CryptoProviderFactory calls the KMS, so the private half never leaves it.
/// </summary>
public interface IKeyStore
{
    /// <summary>Every key the store holds, active and retired: public halves and state only.</summary>
    Task<IReadOnlyList<KeyState>> ListAsync(CancellationToken ct);

    /// <summary>A key that signs as <paramref name="keyId"/> (RS256 through its CryptoProviderFactory).</summary>
    Task<SecurityKey> SigningKeyAsync(string keyId, CancellationToken ct);

    /// <summary>The active key of a purpose, created when there is none (Created tells the caller to record it).</summary>
    Task<(KeyState Key, bool Created)> EnsureActiveAsync(string purpose, DateTimeOffset now, CancellationToken ct);

    /// <summary>Retires the purpose's active keys (published until the given time, or for ever when null) and activates a new one.</summary>
    Task<(KeyState Active, IReadOnlyList<KeyState> Retired)> RotateAsync(
        string purpose, DateTimeOffset now, DateTimeOffset? publishRetiredUntil, CancellationToken ct);

    /// <summary>Changes whenever a key was added or changed, by this instance or another: cheap enough to poll every second.</summary>
    string Fingerprint();
}
