using System.Text.Json;
using GovernanceLedger.Contracts.Security;
using GovernanceLedger.Security.KeyCustody;
using Marten;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security;

/// <summary>A key as its users see it: for the active key of a purpose a signing key, otherwise a verification key.</summary>
public sealed record LedgerKey(string KeyId, SecurityKey Key, DateTimeOffset? PublishedUntil, string Purpose = KeyPurposes.AppTokens);

/// <summary>
/// The ledger's keys in memory: the active signing key of each purpose (app tokens, checkpoints) and
/// the published verification keys, all from the key store outside the database. The ledger records
/// only that a key was activated or retired, with its public JWK. Every instance follows the store
/// (<see cref="KeyRingFollower"/> polls it every second), so a key rotated on one instance signs and
/// verifies on the others within about a second.
/// </summary>
public sealed class SigningKeys(IKeyStore keyStore, IDocumentStore store, TimeProvider clock, TokenSettings settings, ILogger<SigningKeys> logger)
{
    public const string StreamId = "ledger-signing-keys";
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile KeyRing? _ring;
    private long _lastUnknownKidCheck;

    private sealed record KeyRing(string Fingerprint, IReadOnlyList<KeyState> Keys, IReadOnlyDictionary<string, LedgerKey> Active,
        IReadOnlyDictionary<string, RsaSecurityKey> Verification);

    /// <summary>The active app-token key.</summary>
    public Task<LedgerKey> ActiveAsync(CancellationToken ct = default) => ActiveAsync(KeyPurposes.AppTokens, ct);

    public async Task<LedgerKey> ActiveAsync(string purpose, CancellationToken ct = default) =>
        (await RingAsync(ct)).Active.TryGetValue(purpose, out var key) ? key
            : throw new InvalidOperationException($"No active {purpose} key: the key store has none and start-up did not create one.");

    /// <summary>Keys to publish in the JWKS: app-token keys until every token they signed has expired, checkpoint keys for ever.</summary>
    public async Task<IReadOnlyList<KeyState>> PublishedAsync(CancellationToken ct = default) => Published(await RingAsync(ct));

    private IReadOnlyList<KeyState> Published(KeyRing ring)
    {
        var now = clock.GetUtcNow();
        return ring.Keys.Where(k => k.PublishedUntil is null || k.PublishedUntil > now).OrderBy(k => k.CreatedAt).ToList();
    }

    /// <summary>
    /// Verification keys for app tokens on the request path: served from memory, never a checkpoint key.
    /// An unknown kid looks at the key store again (at most twice a second) in case another instance
    /// rotated between two polls.
    /// </summary>
    public IReadOnlyList<LedgerKey> VerificationKeys(string? kid)
    {
        var ring = _ring ?? RingAsync(CancellationToken.None).GetAwaiter().GetResult();
        var now = Environment.TickCount64;
        if (kid is not null && !ring.Verification.ContainsKey(kid) && now - Interlocked.Read(ref _lastUnknownKidCheck) > 500)
        {
            Interlocked.Exchange(ref _lastUnknownKidCheck, now);
            ring = ReloadAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
        return Published(ring).Where(k => k.Purpose == KeyPurposes.AppTokens)
            .Select(k => new LedgerKey(k.KeyId, ring.Verification[k.KeyId], k.PublishedUntil, k.Purpose)).ToList();
    }

    /// <summary>The public key of a checkpoint signer, retired or not: old checkpoints stay verifiable.</summary>
    public async Task<RsaSecurityKey?> CheckpointKeyAsync(string kid, CancellationToken ct)
    {
        var ring = await RingAsync(ct);
        if (!ring.Verification.ContainsKey(kid)) ring = await ReloadAsync(ct);
        return ring.Keys.Any(k => k.KeyId == kid && k.Purpose == KeyPurposes.Checkpoints) ? ring.Verification[kid] : null;
    }

    public async Task<LedgerKey> RotateAsync(string actor, CancellationToken ct = default) => await RotateAsync(KeyPurposes.AppTokens, actor, ct);

    public async Task<LedgerKey> RotateAsync(string purpose, string actor, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        // Retired token keys stay published as long as a token they signed may live; checkpoint keys for ever.
        DateTimeOffset? publishedUntil = purpose == KeyPurposes.AppTokens ? now + settings.MaxLifetime + TimeSpan.FromMinutes(1) : null;
        var (active, retired) = await keyStore.RotateAsync(purpose, now, publishedUntil, ct);
        await using (var session = store.LightweightSession())
        {
            foreach (var key in retired)
                session.Events.Append(StreamId, new SigningKeyRetired(key.KeyId, key.PublishedUntil ?? DateTimeOffset.MaxValue, actor, now, purpose));
            session.Events.Append(StreamId, Activated(active, actor, now));
            await session.SaveChangesAsync(ct);
        }
        logger.LogInformation("Rotated the {Purpose} key: {KeyId} is active", purpose, active.KeyId);
        return (await ReloadAsync(ct)).Active[purpose];
    }

    /// <summary>
    /// At start-up: make sure each purpose has an active key and that the ledger has recorded the
    /// activation of every key in the store (a creator that died between the two left it unrecorded).
    /// </summary>
    public async Task EnsureKeysAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        foreach (var purpose in KeyPurposes.All) await keyStore.EnsureActiveAsync(purpose, now, ct);
        await using var session = store.LightweightSession();
        var recorded = (await session.Events.FetchStreamAsync(StreamId, token: ct))
            .Select(e => e.Data).OfType<SigningKeyActivated>().Select(e => e.KeyId).ToHashSet();
        foreach (var key in (await keyStore.ListAsync(ct)).Where(k => !recorded.Contains(k.KeyId)).OrderBy(k => k.CreatedAt))
            session.Events.Append(StreamId, Activated(key, "ledger", key.CreatedAt));
        await session.SaveChangesAsync(ct);
        await ReloadAsync(ct);
    }

    /// <summary>Reloads from the key store when it changed since the last load (another instance may have rotated).</summary>
    public Task RefreshAsync(CancellationToken ct) => ReloadAsync(ct);

    private async Task<KeyRing> ReloadAsync(CancellationToken ct)
    {
        var fingerprint = keyStore.Fingerprint();
        if (_ring is { } ring && ring.Fingerprint == fingerprint) return ring;
        await _gate.WaitAsync(ct);
        try
        {
            if (_ring is { } again && again.Fingerprint == fingerprint) return again;
            var keys = await keyStore.ListAsync(ct);
            var active = new Dictionary<string, LedgerKey>();
            foreach (var purpose in KeyPurposes.All)
                if (keys.Where(k => k.Purpose == purpose && k.IsActive).MaxBy(k => k.CreatedAt) is { } current)
                    active[purpose] = new LedgerKey(current.KeyId, await keyStore.SigningKeyAsync(current.KeyId, ct), null, purpose);
                else if (_ring?.Active.TryGetValue(purpose, out var kept) == true)
                    active[purpose] = kept;   // a store caught mid-change: keep signing with the key we had
            var fresh = new KeyRing(fingerprint, keys, active, keys.ToDictionary(k => k.KeyId, k => k.VerificationKey()));
            if (_ring is { } previous)
                foreach (var (purpose, key) in active.Where(a => !previous.Active.TryGetValue(a.Key, out var old) || old.KeyId != a.Value.KeyId))
                    logger.LogInformation("The {Purpose} key is now {KeyId}", purpose, key.KeyId);
            _ring = fresh;
            return fresh;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<KeyRing> RingAsync(CancellationToken ct) => _ring ?? await ReloadAsync(ct);

    private static SigningKeyActivated Activated(KeyState key, string actor, DateTimeOffset at) =>
        new(key.KeyId, key.Algorithm, JsonSerializer.Serialize(Jwk(key)), actor, at, key.Purpose);

    /// <summary>The JWK members served in /.well-known/jwks.json; purpose tells a verifier what the key may sign.</summary>
    public static Dictionary<string, string> Jwk(KeyState key) => new()
    {
        ["kty"] = "RSA", ["kid"] = key.KeyId, ["use"] = "sig", ["alg"] = key.Algorithm, ["n"] = key.Modulus, ["e"] = key.Exponent,
        ["purpose"] = key.Purpose
    };
}

/// <summary>Issuer, audience and lifetimes of app tokens, bound from the "Tokens" section.</summary>
public sealed class TokenSettings
{
    public string Issuer { get; set; } = "http://127.0.0.1:5080";
    public string Audience { get; set; } = "governance-ledger-apps";
    public TimeSpan DefaultLifetime { get; set; } = TimeSpan.FromMinutes(15);
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromMinutes(60);
}
