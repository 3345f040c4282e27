using System.Security.Cryptography;
using System.Text;
using Avro;
using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Registry;
using Marten;

namespace GovernanceLedger.Streaming.Registry;

public sealed record RegistryError(int Status, int ErrorCode, string Message, string Field, string Rule);

public sealed record SchemaVersionView(string Subject, int Version, int Id, string Schema, string SchemaType);

/// <summary>
/// The ledger's schema registry. Every registration, refusal and compatibility change is a ledger event
/// in the subject's stream `registry:{subject}`; the documents beside them answer reads.
/// Writes are serialised by an advisory lock: ids and versions are assigned one at a time.
/// </summary>
public sealed class SchemaRegistryLedger(IDocumentStore store, LedgerDatabase ledger, TimeProvider clock)
{
    private const long WriteLock = 7300421;

    public static string StreamOf(string subject) => $"registry:{subject}";

    public const int MaxSchemaDepth = 64;

    /// <summary>
    /// Subjects are named like Kafka topics with a suffix ("sales.events.v1-value"): ASCII letters, digits, '.',
    /// '_' and '-', the whole string, at most 249 characters. Nothing invisible, no look-alike, no '/'.
    /// </summary>
    public static RegistryError? InvalidSubject(string subject) =>
        System.Text.RegularExpressions.Regex.IsMatch(subject, @"\A[A-Za-z0-9._-]{1,249}\z")
            ? null
            : new RegistryError(422, 42208, "A subject is 1 to 249 ASCII letters, digits, '.', '_' or '-'.", "subject", "subject-name");

    public static (Schema? Schema, RegistryError? Error) Parse(string? text, string? schemaType)
    {
        if (schemaType is { Length: > 0 } && !schemaType.Equals("AVRO", StringComparison.OrdinalIgnoreCase))
            return (null, new RegistryError(422, 42201, $"Only AVRO schemas are accepted here, got schemaType '{schemaType}'.", "schemaType", "avro-only"));
        if (string.IsNullOrWhiteSpace(text))
            return (null, new RegistryError(422, 42201, "The request has no schema.", "schema", "required"));
        // Parsing and resolution recurse once per level: bound the depth before either runs.
        if (text.TrimStart() is ['{' or '[', ..]) try
        {
            using var _ = System.Text.Json.JsonDocument.Parse(text, new System.Text.Json.JsonDocumentOptions { MaxDepth = MaxSchemaDepth });
        }
        catch (System.Text.Json.JsonException)
        {
            return (null, new RegistryError(422, 42201, $"The schema is not JSON, or is nested deeper than {MaxSchemaDepth} levels.", "schema", "max-depth"));
        }
        Schema parsed;
        try
        {
            parsed = Schema.Parse(text);
        }
        catch (Exception e) when (e is SchemaParseException or AvroException or Newtonsoft.Json.JsonException)
        {
            return (null, new RegistryError(422, 42201, $"Invalid Avro schema: {e.Message}", "schema", "avro-syntax"));
        }
        // A default that does not fit its field would break every reader that needs it: refused, as Confluent does.
        var defaults = AvroDefaults.Problems(parsed);
        return defaults.Count > 0
            ? (null, new RegistryError(422, 42201, $"Invalid default value: {string.Join("; ", defaults)}", "schema", "avro-default"))
            : (parsed, null);
    }

    /// <summary>Avro's full JSON form (defaults and docs kept, whitespace gone), hashed: equal schemas share an id.</summary>
    public static string Fingerprint(Schema schema) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(schema.ToString())));

    public async Task<(SchemaVersionView? Registered, RegistryError? Error)> RegisterAsync(
        string subject, string schemaText, string? schemaType, string actor, CancellationToken ct)
    {
        if (InvalidSubject(subject) is { } badSubject) return (null, badSubject);
        var (schema, invalid) = Parse(schemaText, schemaType);
        if (invalid is not null) return (null, invalid);
        var fingerprint = Fingerprint(schema!);

        await using var gate = await ledger.Source.OpenConnectionAsync(ct);
        await using (var take = gate.CreateCommand()) { take.CommandText = $"select pg_advisory_lock({WriteLock})"; await take.ExecuteNonQueryAsync(ct); }
        try
        {
            await using var session = store.LightweightSession();
            var entry = await session.LoadAsync<RegistrySubject>(subject, ct) ?? new RegistrySubject { Id = subject };
            var earlier = await LoadSchemasAsync(session, entry.Versions.Select(v => v.SchemaId), ct);
            var same = entry.Versions.FirstOrDefault(v => earlier[v.SchemaId].Fingerprint == fingerprint);
            if (same is not null)
                return (new SchemaVersionView(subject, same.Version, same.SchemaId, earlier[same.SchemaId].Schema, "AVRO"), null);

            var level = entry.Compatibility ?? await GlobalCompatibilityAsync(session, ct);
            var previous = entry.Versions.Select(v => (v.Version, Schema.Parse(earlier[v.SchemaId].Schema))).ToList();
            var reasons = AvroCompatibility.Check(level, schema!, previous);
            var now = clock.GetUtcNow();
            if (reasons.Count > 0)
            {
                var reason = string.Join(" | ", reasons);
                session.Events.Append(StreamOf(subject), new SchemaRejected(subject, level, reason, fingerprint, actor, now));
                await session.SaveChangesAsync(ct);
                return (null, new RegistryError(409, 40901, $"Schema being registered is incompatible with an earlier schema for subject '{subject}': {reason}", "schema", level.ToLowerInvariant()));
            }

            // The subject, the schema by id and the registry's settings are projections of these events (inline).
            var known = await session.Query<RegisteredSchema>().Where(s => s.Fingerprint == fingerprint).FirstOrDefaultAsync(ct);
            if (known is null)
            {
                var top = await session.Query<RegisteredSchema>().OrderByDescending(s => s.Id).Select(s => s.Id).FirstOrDefaultAsync(ct);
                known = new RegisteredSchema { Id = top + 1, Fingerprint = fingerprint, Schema = schema!.ToString() };
            }
            var version = entry.Versions.Count == 0 ? 1 : entry.Versions[^1].Version + 1;
            session.Events.Append(StreamOf(subject), new SchemaRegistered(subject, version, known.Id, "AVRO", known.Schema, fingerprint, level, actor, now));
            await session.SaveChangesAsync(ct);
            return (new SchemaVersionView(subject, version, known.Id, known.Schema, "AVRO"), null);
        }
        finally
        {
            await using var release = gate.CreateCommand();
            release.CommandText = $"select pg_advisory_unlock({WriteLock})";
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>Would this schema be accepted under the subject's level? Checked against the named version (or all, for TRANSITIVE).</summary>
    public async Task<(IReadOnlyList<string>? Reasons, RegistryError? Error)> CheckAsync(string subject, string? version, string schemaText, string? schemaType, CancellationToken ct)
    {
        if (version is not null && InvalidVersion(version) is { } badVersion) return (null, badVersion);
        var (schema, invalid) = Parse(schemaText, schemaType);
        if (invalid is not null) return (null, invalid);
        await using var session = store.QuerySession();
        var entry = await session.LoadAsync<RegistrySubject>(subject, ct);
        // Nothing registered yet: anything is compatible with "latest" or no version, a numbered version does not exist.
        if (entry is null || entry.Versions.Count == 0)
            return version is null or "latest" or "-1"
                ? ([], null)
                : (null, new RegistryError(404, 40402, $"Version '{version}' of subject '{subject}' not found.", "version", "exists"));
        var level = entry.Compatibility ?? await GlobalCompatibilityAsync(session, ct);
        var schemas = await LoadSchemasAsync(session, entry.Versions.Select(v => v.SchemaId), ct);
        var versions = entry.Versions.Select(v => (v.Version, Schema.Parse(schemas[v.SchemaId].Schema))).ToList();
        // A version named is the one checked, whatever the level; none named means what the level says (the latest,
        // or every version for the transitive levels), as a registration would be checked.
        if (version is not null)
        {
            var target = Resolve(entry, version);
            if (target is null) return (null, new RegistryError(404, 40402, $"Version '{version}' of subject '{subject}' not found.", "version", "exists"));
            versions = versions.Where(v => v.Version == target.Version).ToList();
            level = level.Replace("_TRANSITIVE", "", StringComparison.Ordinal);
        }
        return (AvroCompatibility.Check(level, schema!, versions), null);
    }

    public async Task<SchemaVersionView?> LookupAsync(string subject, string schemaText, CancellationToken ct)
    {
        var (schema, invalid) = Parse(schemaText, null);
        if (invalid is not null) return null;
        var fingerprint = Fingerprint(schema!);
        await using var session = store.QuerySession();
        var entry = await session.LoadAsync<RegistrySubject>(subject, ct);
        if (entry is null) return null;
        var schemas = await LoadSchemasAsync(session, entry.Versions.Select(v => v.SchemaId), ct);
        var match = entry.Versions.FirstOrDefault(v => schemas[v.SchemaId].Fingerprint == fingerprint);
        return match is null ? null : new SchemaVersionView(subject, match.Version, match.SchemaId, schemas[match.SchemaId].Schema, "AVRO");
    }

    public async Task<SchemaVersionView?> VersionAsync(string subject, string version, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var entry = await session.LoadAsync<RegistrySubject>(subject, ct);
        var target = entry is null ? null : Resolve(entry, version);
        if (target is null) return null;
        var schema = await session.LoadAsync<RegisteredSchema>(target.SchemaId, ct);
        return new SchemaVersionView(subject, target.Version, target.SchemaId, schema!.Schema, schema.SchemaType);
    }

    public async Task<RegistrySubject?> SubjectAsync(string subject, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        return await session.LoadAsync<RegistrySubject>(subject, ct);
    }

    public async Task<IReadOnlyList<string>> SubjectsAsync(CancellationToken ct)
    {
        await using var session = store.QuerySession();
        return await session.Query<RegistrySubject>().Where(s => s.Versions.Count > 0).OrderBy(s => s.Id).Select(s => s.Id).ToListAsync(ct);
    }

    public async Task<RegisteredSchema?> SchemaAsync(int id, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        return await session.LoadAsync<RegisteredSchema>(id, ct);
    }

    /// <summary>Every subject and version that registered the schema with this id, in subject order.</summary>
    public async Task<IReadOnlyList<(string Subject, int Version)>> UsagesAsync(int id, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var subjects = await session.Query<RegistrySubject>().Where(s => s.Versions.Any(v => v.SchemaId == id)).ToListAsync(ct);
        return subjects.OrderBy(s => s.Id, StringComparer.Ordinal)
            .SelectMany(s => s.Versions.Where(v => v.SchemaId == id).Select(v => (s.Id, v.Version))).ToList();
    }

    public async Task<string> CompatibilityAsync(string? subject, bool defaultToGlobal, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        if (subject is not null)
        {
            var entry = await session.LoadAsync<RegistrySubject>(subject, ct);
            if (entry?.Compatibility is { } own) return own;
            if (!defaultToGlobal) return "";
        }
        return await GlobalCompatibilityAsync(session, ct);
    }

    public async Task<RegistryError?> SetCompatibilityAsync(string? subject, string? level, string actor, CancellationToken ct)
    {
        if (subject is not null && InvalidSubject(subject) is { } badSubject) return badSubject;
        if (level is null || !AvroCompatibility.Levels.Contains(level))
            return new RegistryError(422, 42203, $"Invalid compatibility level '{level}'; use one of {string.Join(", ", AvroCompatibility.Levels)}.", "compatibility", "level");
        await using var session = store.LightweightSession();
        session.Events.Append(StreamOf(subject ?? RegistrySettings.Global), new SchemaCompatibilitySet(subject, level, actor, clock.GetUtcNow()));
        await session.SaveChangesAsync(ct);
        return null;
    }

    /// <summary>A version is a positive number, "latest" or -1 (Confluent's 42202 otherwise, before anything is looked up).</summary>
    public static RegistryError? InvalidVersion(string version) =>
        version is "latest" or "-1" || int.TryParse(version, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0
            ? null
            : new RegistryError(422, 42202, $"'{(version.Length > 32 ? version[..32] : version)}' is not a version: use a positive number, latest or -1.", "version", "version-format");

    private static SubjectVersion? Resolve(RegistrySubject entry, string version) =>
        version is "latest" or "-1" ? entry.Versions.LastOrDefault()
        : int.TryParse(version, out var n) ? entry.Versions.FirstOrDefault(v => v.Version == n) : null;

    private static async Task<string> GlobalCompatibilityAsync(IQuerySession session, CancellationToken ct) =>
        (await session.LoadAsync<RegistrySettings>(RegistrySettings.Global, ct))?.Compatibility ?? RegistrySettings.DefaultCompatibility;

    private static async Task<Dictionary<int, RegisteredSchema>> LoadSchemasAsync(IQuerySession session, IEnumerable<int> ids, CancellationToken ct)
    {
        var list = ids.Distinct().ToArray();
        if (list.Length == 0) return [];
        var loaded = await session.LoadManyAsync<RegisteredSchema>(ct, list);
        return loaded.ToDictionary(s => s.Id);
    }
}
