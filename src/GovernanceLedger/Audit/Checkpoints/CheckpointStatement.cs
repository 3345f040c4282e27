using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Audit.Checkpoints;

/// <summary>
/// What a checkpoint signs: the tree head (size and RFC 9162 root) over sequences 1..tree_size, the
/// hash-chain link at tree_size, and the size of the checkpoint before it (so a missing witness file
/// shows). Root is null when the Merkle tree is switched off.
/// </summary>
public sealed record CheckpointStatement(
    [property: JsonPropertyName("iss")] string Issuer,
    [property: JsonPropertyName("tree_size")] long TreeSize,
    [property: JsonPropertyName("root")] string? Root,
    [property: JsonPropertyName("link")] string Link,
    [property: JsonPropertyName("previous_tree_size")] long PreviousTreeSize,
    [property: JsonPropertyName("at")] DateTimeOffset At);

/// <summary>
/// A checkpoint as a compact JWS (RS256, the checkpoint key's kid, typ govledger-checkpoint+jws):
/// anyone with the JWKS checks it with SHA-256 and RSA alone, as the README's offline verifier does.
/// </summary>
public static class CheckpointJws
{
    public const string Type = "govledger-checkpoint+jws";
    private static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Sign(CheckpointStatement statement, string keyId, SecurityKey key) =>
        Sign(JsonSerializer.SerializeToUtf8Bytes(statement, Json), Type, keyId, key);

    /// <summary>Any payload as a compact RS256 JWS of the given type (checkpoints, archive manifests), signed with a ledger key.</summary>
    public static string Sign(byte[] payloadBytes, string type, string keyId, SecurityKey key)
    {
        var header = Base64UrlEncoder.Encode(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
        {
            ["alg"] = SecurityAlgorithms.RsaSha256, ["kid"] = keyId, ["typ"] = type
        }, Json));
        var signingInput = $"{header}.{Base64UrlEncoder.Encode(payloadBytes)}";
        var provider = key.CryptoProviderFactory.CreateForSigning(key, SecurityAlgorithms.RsaSha256);
        try
        {
            return $"{signingInput}.{Base64UrlEncoder.Encode(provider.Sign(Encoding.ASCII.GetBytes(signingInput)))}";
        }
        finally
        {
            key.CryptoProviderFactory.ReleaseSignatureProvider(provider);
        }
    }

    /// <summary>The kid and statement of a JWS, unverified; null when it is not a checkpoint JWS at all.</summary>
    public static (string KeyId, CheckpointStatement Statement)? Read(string jws)
    {
        var parts = jws.Split('.');
        if (parts.Length != 3) return null;
        try
        {
            using var header = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(parts[0]));
            if (!header.RootElement.TryGetProperty("kid", out var kid) || kid.ValueKind != JsonValueKind.String
                || !header.RootElement.TryGetProperty("alg", out var alg) || alg.GetString() != SecurityAlgorithms.RsaSha256
                || !header.RootElement.TryGetProperty("typ", out var typ) || typ.GetString() != Type)
                return null;
            var statement = JsonSerializer.Deserialize<CheckpointStatement>(Base64UrlEncoder.DecodeBytes(parts[1]), Json);
            return statement is null ? null : (kid.GetString()!, statement);
        }
        catch (Exception e) when (e is JsonException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    public static bool SignatureValid(string jws, SecurityKey verificationKey)
    {
        var last = jws.LastIndexOf('.');
        if (last < 0) return false;
        var provider = verificationKey.CryptoProviderFactory.CreateForVerifying(verificationKey, SecurityAlgorithms.RsaSha256);
        try
        {
            return provider.Verify(Encoding.ASCII.GetBytes(jws[..last]), Base64UrlEncoder.DecodeBytes(jws[(last + 1)..]));
        }
        catch (FormatException)
        {
            return false;
        }
        finally
        {
            verificationKey.CryptoProviderFactory.ReleaseSignatureProvider(provider);
        }
    }
}
