using System.Security.Cryptography;
using System.Text.Json;
using GovernanceLedger.Contracts.Security;
using Marten;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Security;

/// <summary>
/// The private half of a ledger signing key. It is kept as a document beside the ledger, never in
/// an event; the ledger records only that the key was activated or retired and its public JWK.
/// </summary>
public sealed class SigningKeyRecord
{
    public string Id { get; set; } = "";
    public string Algorithm { get; set; } = SecurityAlgorithms.RsaSha256;
    public string PrivateKeyPem { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? RetiredAt { get; set; }
    /// <summary>After retirement the key stays in the JWKS until every token it signed has expired.</summary>
    public DateTimeOffset? PublishedUntil { get; set; }
}

public sealed record LedgerKey(string KeyId, RsaSecurityKey Key, DateTimeOffset? PublishedUntil);

/// <summary>
/// Signs app tokens and publishes the verification keys. Keys persist in PostgreSQL so a restart
/// keeps validating tokens already issued; rotation adds a key and retires the previous one.
/// </summary>
public sealed class SigningKeys(IDocumentStore store, TimeProvider clock, TokenSettings settings)
{
    public const string StreamId = "ledger-signing-keys";
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile KeyRing? _ring;

    private sealed record KeyRing(LedgerKey Active, IReadOnlyList<LedgerKey> Published);

    public async Task<LedgerKey> ActiveAsync(CancellationToken ct = default) => (await RingAsync(ct)).Active;

    public async Task<IReadOnlyList<LedgerKey>> PublishedAsync(CancellationToken ct = default)
    {
        var now = clock.GetUtcNow();
        return (await RingAsync(ct)).Published.Where(k => k.PublishedUntil is null || k.PublishedUntil > now).ToList();
    }

    /// <summary>
    /// Verification keys for the token check on the request path: served from memory. An unknown
    /// kid (a key rotated by another instance) reloads the ring, at most once every ten seconds.
    /// </summary>
    public IReadOnlyList<LedgerKey> VerificationKeys(string? kid)
    {
        var ring = _ring ?? RingAsync(CancellationToken.None).GetAwaiter().GetResult();
        if (kid is not null && ring.Published.All(k => k.KeyId != kid) && clock.GetUtcNow() - _lastReload > TimeSpan.FromSeconds(10))
        {
            _lastReload = clock.GetUtcNow();
            _ring = null;
            ring = RingAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
        var now = clock.GetUtcNow();
        return ring.Published.Where(k => k.PublishedUntil is null || k.PublishedUntil > now).ToList();
    }

    private DateTimeOffset _lastReload = DateTimeOffset.MinValue;

    public async Task<LedgerKey> RotateAsync(string actor, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await using var session = store.LightweightSession();
            var now = clock.GetUtcNow();
            var current = await session.Query<SigningKeyRecord>().Where(k => k.RetiredAt == null).ToListAsync(ct);
            foreach (var key in current)
            {
                key.RetiredAt = now;
                key.PublishedUntil = now + settings.MaxLifetime + TimeSpan.FromMinutes(1);
                session.Store(key);
                session.Events.Append(StreamId, new SigningKeyRetired(key.Id, key.PublishedUntil.Value, actor, now));
            }
            var fresh = NewKey(session, actor, now);
            await session.SaveChangesAsync(ct);
            _ring = null;
            return ToLedgerKey(fresh);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<KeyRing> RingAsync(CancellationToken ct)
    {
        if (_ring is { } ring) return ring;
        await _gate.WaitAsync(ct);
        try
        {
            if (_ring is { } again) return again;
            await using var session = store.LightweightSession();
            var records = (await session.Query<SigningKeyRecord>().ToListAsync(ct)).ToList();
            if (!records.Any(r => r.RetiredAt is null))
            {
                records.Add(NewKey(session, "ledger", clock.GetUtcNow()));
                await session.SaveChangesAsync(ct);
            }
            var keys = records.Select(ToLedgerKey).ToList();
            var active = records.Where(r => r.RetiredAt is null).OrderByDescending(r => r.CreatedAt).First();
            _ring = new KeyRing(keys.Single(k => k.KeyId == active.Id), keys);
            return _ring;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static SigningKeyRecord NewKey(IDocumentSession session, string actor, DateTimeOffset now)
    {
        using var rsa = RSA.Create(2048);
        var record = new SigningKeyRecord
        {
            Id = $"ledger-{now:yyyyMMddHHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}",
            PrivateKeyPem = rsa.ExportPkcs8PrivateKeyPem(),
            CreatedAt = now
        };
        session.Store(record);
        var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(rsa.ExportParameters(false)) { KeyId = record.Id });
        var publicJwk = JsonSerializer.Serialize(new { kty = jwk.Kty, kid = jwk.Kid, n = jwk.N, e = jwk.E, alg = record.Algorithm, use = "sig" });
        session.Events.Append(StreamId, new SigningKeyActivated(record.Id, record.Algorithm, publicJwk, actor, now));
        return record;
    }

    private static LedgerKey ToLedgerKey(SigningKeyRecord record)
    {
        var rsa = RSA.Create();
        rsa.ImportFromPem(record.PrivateKeyPem);
        return new LedgerKey(record.Id, new RsaSecurityKey(rsa) { KeyId = record.Id }, record.PublishedUntil);
    }
}

/// <summary>Issuer, audience and lifetimes of app tokens, bound from the "Tokens" section.</summary>
public sealed class TokenSettings
{
    public string Issuer { get; set; } = "http://127.0.0.1:5080";
    public string Audience { get; set; } = "governance-ledger-apps";
    public TimeSpan DefaultLifetime { get; set; } = TimeSpan.FromMinutes(15);
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromMinutes(60);
}
