using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using GovernanceLedger.Infrastructure;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security.KeyCustody;

/// <summary>
/// The default key store: one JSON file per key in a directory shared by the ledger's instances
/// (`{kid}.key.json`: public half and state in clear, PKCS#8 private half sealed with AES-256-GCM,
/// file mode 0600). Creation and rotation hold an exclusive lock on `.lock`, so two instances never
/// activate two keys for one purpose.
/// </summary>
public sealed class DirectoryKeyStore : IKeyStore
{
    private const string Suffix = ".key.json";
    private static readonly JsonSerializerOptions Json = new(LedgerSetup.ApiJson) { WriteIndented = true };
    private readonly string _directory;
    private readonly KeyEncryption _encryption;
    private readonly ConcurrentDictionary<string, SecurityKey> _signing = new();
    private volatile Snapshot? _cache;

    private sealed record Snapshot(string Fingerprint, IReadOnlyList<KeyFile> Files);

    public DirectoryKeyStore(string directory, KeyEncryption encryption)
    {
        _directory = Path.GetFullPath(directory);
        _encryption = encryption;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(_directory);
        else Directory.CreateDirectory(_directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public string Location => _directory;

    private sealed record KeyFile(
        string Kid, string Purpose, string Alg, DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt, DateTimeOffset? PublishedUntil,
        string N, string E, SealedKey Private)
    {
        public KeyState State() => new(Kid, Purpose, Alg, N, E, CreatedAt, RetiredAt, PublishedUntil);
    }

    public string Fingerprint()
    {
        var parts = new DirectoryInfo(_directory).EnumerateFiles("*" + Suffix)
            .Select(f => $"{f.Name}:{f.Length}:{f.LastWriteTimeUtc.Ticks}").Order(StringComparer.Ordinal);
        return string.Join('|', parts);
    }

    public Task<IReadOnlyList<KeyState>> ListAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<KeyState>>(Files().Select(f => f.State()).ToList());

    public Task<SecurityKey> SigningKeyAsync(string keyId, CancellationToken ct)
    {
        if (_signing.TryGetValue(keyId, out var cached)) return Task.FromResult(cached);
        var file = Files().SingleOrDefault(f => f.Kid == keyId)
            ?? throw new InvalidOperationException($"Key {keyId} is not in the key store at {_directory}.");
        var rsa = RSA.Create();
        var pkcs8 = _encryption.Open(file.Private, file.Kid, file.Purpose);
        try
        {
            rsa.ImportPkcs8PrivateKey(pkcs8, out _);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
        var key = _signing.GetOrAdd(keyId, new RsaSecurityKey(rsa) { KeyId = keyId });
        return Task.FromResult(key);
    }

    public async Task<(KeyState Key, bool Created)> EnsureActiveAsync(string purpose, DateTimeOffset now, CancellationToken ct)
    {
        using var _ = await LockAsync(ct);
        var active = Files().Where(f => f.Purpose == purpose && f.RetiredAt is null).MaxBy(f => f.CreatedAt);
        return active is not null ? (active.State(), false) : (Create(purpose, now).State(), true);
    }

    public async Task<(KeyState Active, IReadOnlyList<KeyState> Retired)> RotateAsync(
        string purpose, DateTimeOffset now, DateTimeOffset? publishRetiredUntil, CancellationToken ct)
    {
        using var _ = await LockAsync(ct);
        var previous = Files().Where(f => f.Purpose == purpose && f.RetiredAt is null).ToList();
        // The new key first: an instance polling in between sees two active keys and takes the newer, never none.
        var active = Create(purpose, now);
        var retired = new List<KeyState>();
        foreach (var file in previous)
        {
            var updated = file with { RetiredAt = now, PublishedUntil = publishRetiredUntil };
            DurableFiles.Replace(PathOf(file.Kid), JsonSerializer.SerializeToUtf8Bytes(updated, Json), DurableFiles.OwnerReadWrite);
            retired.Add(updated.State());
        }
        return (active.State(), retired);
    }

    private KeyFile Create(string purpose, DateTimeOffset now)
    {
        using var rsa = RSA.Create(2048);
        var kid = $"{purpose}-{now:yyyyMMddHHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        var pkcs8 = rsa.ExportPkcs8PrivateKey();
        var publicHalf = rsa.ExportParameters(false);
        var file = new KeyFile(kid, purpose, SecurityAlgorithms.RsaSha256, now, null, null,
            Base64UrlEncoder.Encode(publicHalf.Modulus), Base64UrlEncoder.Encode(publicHalf.Exponent), _encryption.Seal(pkcs8, kid, purpose));
        CryptographicOperations.ZeroMemory(pkcs8);
        DurableFiles.WriteNew(PathOf(kid), JsonSerializer.SerializeToUtf8Bytes(file, Json), DurableFiles.OwnerReadWrite);
        return file;
    }

    private IReadOnlyList<KeyFile> Files()
    {
        var fingerprint = Fingerprint();
        if (_cache is { } cache && cache.Fingerprint == fingerprint) return cache.Files;
        var files = Directory.EnumerateFiles(_directory, "*" + Suffix)
            .Select(path => JsonSerializer.Deserialize<KeyFile>(File.ReadAllBytes(path), Json)
                ?? throw new InvalidOperationException($"{path} is not a key file."))
            .ToList();
        _cache = new Snapshot(fingerprint, files);
        return files;
    }

    private string PathOf(string kid) => Path.Combine(_directory, kid + Suffix);

    /// <summary>An exclusive lock on the directory, across processes (flock through FileShare.None).</summary>
    private async Task<IDisposable> LockAsync(CancellationToken ct)
    {
        var path = Path.Combine(_directory, ".lock");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                // Another instance is creating or rotating a key right now.
                await Task.Delay(20, ct);
            }
        }
    }
}
