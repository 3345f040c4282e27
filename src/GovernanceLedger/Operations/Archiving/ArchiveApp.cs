using System.Security.Cryptography;
using System.Text.Json;
using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using GovernanceLedger.Security.KeyCustody;
using JasperFx.Events;
using Marten;
using Wolverine.Marten;

namespace GovernanceLedger.Operations.Archiving;

/// <summary>Archive a retired app's timeline (sent with the retirement, through the durable outbox).</summary>
public sealed record ArchiveApp(string AppId);

public sealed record ArchiveManifest(
    string AppId, DateTimeOffset ArchivedAt, long Events, long FirstSequence, long LastSequence, IReadOnlyList<ArchivedFile> Files);

public sealed record ArchivedFile(string Name, string Sha256, long Events, long Bytes);

/// <summary>Where archives go: <c>Archive:Directory</c>, one folder per app and archive. Object storage with retention lock is the production choice.</summary>
public sealed class ArchiveOptions
{
    public const string Section = "Archive";
    public string? Directory { get; set; }
}

/// <summary>
/// Writes every event of the app's streams (its lifecycle, governance, token and access streams), in sequence
/// order, as NDJSON; then a manifest with the file's SHA-256 and counts, and that manifest signed as a JWS with
/// the checkpoint key (typ govledger-archive+jws), so the archive can be checked without the ledger. The folder
/// appears whole (written aside, then renamed). The app's stream then records <see cref="AppArchived"/>.
/// </summary>
public static class ArchiveAppHandler
{
    public const string JwsType = "govledger-archive+jws";
    private const int Page = 5_000;
    private static readonly JsonSerializerOptions Json = new(LedgerSetup.ApiJson) { WriteIndented = false };

    public static async Task<Events> Handle(ArchiveApp message, [WriteAggregate(Required = false)] IEventStream<App> app, IDocumentSession session,
        SigningKeys keys, Microsoft.Extensions.Options.IOptions<ArchiveOptions> options, TimeProvider clock, ILogger<ArchiveApp> logger, CancellationToken ct)
    {
        if (app.Aggregate is not { Status: AppStatus.Retired } retired || retired.ArchivedAt is not null) return [];
        var now = clock.GetUtcNow();
        var root = options.Value.Directory is { Length: > 0 } configured ? configured : Path.Combine(Path.GetTempPath(), "governance-ledger-archive");
        if (options.Value.Directory is not { Length: > 0 })
            logger.LogWarning("Archive:Directory is not set; archiving app {AppId} under {Directory}", retired.Id, root);

        var folder = Path.Combine(root, retired.Id, $"{now.UtcDateTime:yyyyMMddTHHmmssZ}");
        var aside = folder + ".writing";
        Directory.CreateDirectory(aside);
        var (events, first, last, sha, bytes) = await WriteTimelineAsync(session, retired.Id, Path.Combine(aside, "timeline.ndjson"), ct);
        var manifest = new ArchiveManifest(retired.Id, now, events, first, last, [new ArchivedFile("timeline.ndjson", sha, events, bytes)]);
        var manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, Json);
        await File.WriteAllBytesAsync(Path.Combine(aside, "manifest.json"), manifestBytes, ct);
        var key = await keys.ActiveAsync(KeyPurposes.Checkpoints, ct);
        await File.WriteAllTextAsync(Path.Combine(aside, "manifest.jws"), Audit.Checkpoints.CheckpointJws.Sign(manifestBytes, JwsType, key.KeyId, key.Key), ct);
        Directory.Move(aside, folder);

        var archived = new AppArchived(retired.Id, folder, Convert.ToHexStringLower(SHA256.HashData(manifestBytes)), events, last, key.KeyId, "ledger", now);
        return [archived];
    }

    private static async Task<(long Events, long First, long Last, string Sha256, long Bytes)> WriteTimelineAsync(
        IQuerySession session, string appId, string path, CancellationToken ct)
    {
        var prefixes = new[] { $"governance:{appId}:", $"app-tokens:{appId}:", $"access:{appId}:" };
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = File.Create(path);
        long count = 0, first = 0, last = 0, bytes = 0;
        for (var after = 0L; ;)
        {
            var page = await session.Events.QueryAllRawEvents()
                .Where(e => e.Sequence > after && (e.StreamKey == appId || e.StreamKey!.StartsWith(prefixes[0])
                    || e.StreamKey.StartsWith(prefixes[1]) || e.StreamKey.StartsWith(prefixes[2])))
                .OrderBy(e => e.Sequence).Take(Page).ToListAsync(ct);
            foreach (var e in page)
            {
                var line = JsonSerializer.SerializeToUtf8Bytes(new
                {
                    seq = e.Sequence, stream = e.StreamKey, version = e.Version, type = e.EventTypeName, at = e.Timestamp, data = e.Data
                }, Json);
                hash.AppendData(line);
                hash.AppendData("\n"u8);
                await file.WriteAsync(line, ct);
                file.WriteByte((byte)'\n');
                bytes += line.Length + 1;
                if (count++ == 0) first = e.Sequence;
                last = e.Sequence;
            }
            if (page.Count < Page) break;
            after = page[^1].Sequence;
        }
        await file.FlushAsync(ct);
        file.Flush(flushToDisk: true);
        return (count, first, last, Convert.ToHexStringLower(hash.GetHashAndReset()), bytes);
    }
}
