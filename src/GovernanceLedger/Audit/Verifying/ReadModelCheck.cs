using System.Reflection;
using GovernanceLedger.Infrastructure;
using Marten;
using Npgsql;

namespace GovernanceLedger.Audit.Verifying;

/// <summary>
/// The documents the ledger decides from are not chained, but each is its stream folded: the app catalog the gateway
/// admits by, the policies in force, the approved SQL of a template, and the other single-stream read models. They are
/// written in the same transaction as their events, so each must equal its stream folded again now. One edited by hand
/// (a paused app made active, an approved template's SQL swapped), one whose stream it no longer follows, one with no
/// stream at all, and one that is gone though its stream is there, are named.
/// </summary>
public sealed class ReadModelCheck(IDocumentStore store, LedgerDatabase ledger, ILogger<ReadModelCheck> logger)
{
    private const string S = LedgerSetup.Schema;
    private const int MaxPerModel = 50;

    /// <summary>Each checked read model: its document type, and the projection whose Create methods say which events start one.</summary>
    private static readonly (Type Document, Type Projection)[] Models = typeof(Projections.Catalog.AppCatalogEntry).Assembly.GetTypes()
        .Select(t => (Projection: t, Base: BaseOf(t)))
        .Where(x => x.Base is not null && !x.Projection.IsAbstract)
        .Select(x => (x.Base!.GetGenericArguments()[0], x.Projection))
        .Where(x => x.Item1 != typeof(Projections.Chargeback.UsageDay))   // summed in place from several streams by the access ledger
        .OrderBy(x => x.Item1.Name, StringComparer.Ordinal)
        .ToArray();

    private static Type? BaseOf(Type type)
    {
        for (var t = type.BaseType; t is not null; t = t.BaseType)
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Marten.Events.Aggregation.SingleStreamProjection<,>)
                && t.GetGenericArguments()[1] == typeof(string))
                return t;
        return null;
    }

    public IReadOnlyList<Type> Documents => Models.Select(m => m.Document).ToList();

    public async Task RunAsync(ProblemList problems, CancellationToken ct)
    {
        foreach (var (document, projection) in Models)
            await (Task)typeof(ReadModelCheck).GetMethod(nameof(CheckAsync), BindingFlags.NonPublic | BindingFlags.Instance)!
                .MakeGenericMethod(document).Invoke(this, [projection, problems, ct])!;
    }

    /// <summary>The top-level members whose values differ between two JSON objects (at most five named).</summary>
    private static IEnumerable<string> Differing(string want, string have)
    {
        var (a, b) = (System.Text.Json.Nodes.JsonNode.Parse(want)!.AsObject(), System.Text.Json.Nodes.JsonNode.Parse(have)!.AsObject());
        return a.Select(p => p.Key).Union(b.Select(p => p.Key))
            .Where(key => !System.Text.Json.Nodes.JsonNode.DeepEquals(a[key], b[key])).Take(5).Select(key => StrictJson.Bounded(key, 40));
    }

    private async Task CheckAsync<T>(Type projection, ProblemList problems, CancellationToken ct) where T : class
    {
        var table = $"{S}.mt_doc_{typeof(T).Name.ToLowerInvariant()}";
        var serializer = store.Options.Serializer();
        var found = 0;
        await using var session = store.QuerySession();
        var rows = new List<(string Id, string Json, long? Version, long? StreamVersion, long? LastSequence)>();
        await using (var command = ledger.Reads.CreateCommand($"""
            select d.id, d.data::text, d.mt_version, max(e.version), max(e.seq_id)
            from {table} d left join {S}.mt_events e on e.stream_id = d.id group by d.id, d.data, d.mt_version order by d.id
            """))
        await using (var reader = await command.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
                rows.Add((reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt64(2),
                    reader.IsDBNull(3) ? null : reader.GetInt64(3), reader.IsDBNull(4) ? null : reader.GetInt64(4)));

        foreach (var (id, json, version, streamVersion, lastSequence) in rows)
        {
            if (found >= MaxPerModel) break;
            var name = $"{typeof(T).Name} '{StrictJson.Bounded(id, 120)}'";
            if (streamVersion is null)
            {
                found++;
                problems.Add(0, "inserted", $"The document {name} has no events behind it: it was written behind the ledger's back.");
                continue;
            }
            // Ahead of its events: they were deleted, and the chain names them.
            if (version > streamVersion) continue;
            if (version < streamVersion)
            {
                found++;
                problems.Add(lastSequence!.Value, "edited", $"The document {name} stands at version {version} of its stream, which is at {streamVersion}.");
                continue;
            }
            T? folded, stored;
            try
            {
                folded = await session.Events.AggregateStreamAsync<T>(id, token: ct);
                stored = serializer.FromJson<T>(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // An event or document that no longer reads back (its columns were edited, and are named above) is a finding, not a failure of verify.
                found++;
                problems.Add(lastSequence!.Value, "edited", $"The document {name} or its stream's events no longer read back ({e.GetType().Name}).");
                continue;
            }
            // The stream version a projection copies from the last event's metadata is not the events' content: Marten's quick
            // append leaves it behind when events are appended without reading the stream first. The document's own version
            // column is held to the stream above.
            if (folded is not null && typeof(T).GetProperty("StreamVersion") is { CanWrite: true } copied) copied.SetValue(folded, copied.GetValue(stored));
            var (want, have) = (folded is null ? "{}" : serializer.ToJson(folded), serializer.ToJson(stored));
            if (want != have)
            {
                found++;
                problems.Add(lastSequence!.Value, "edited",
                    $"The document {name} differs from its stream's events folded again ({string.Join(", ", Differing(want, have))}): it was edited behind the ledger's back.");
            }
        }

        // Gone though its stream is there: the events that start one name the streams that must have it.
        var starts = projection.GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.Name == "Create" && m.GetParameters().Length >= 1)
            .Select(m => m.GetParameters()[0].ParameterType)
            .Select(t => ((Marten.Events.EventGraph)((StoreOptions)store.Options).Events).EventMappingFor(t).EventTypeName)
            .Distinct().ToArray();
        if (starts.Length == 0) return;
        await using var missing = ledger.Reads.CreateCommand($"""
            select e.stream_id, min(e.seq_id) from {S}.mt_events e
            where e.type = any($1) and not exists (select 1 from {table} d where d.id = e.stream_id)
            group by e.stream_id order by 2 limit {MaxPerModel}
            """);
        missing.Parameters.Add(new NpgsqlParameter { Value = starts });
        await using var gone = await missing.ExecuteReaderAsync(ct);
        while (await gone.ReadAsync(ct))
            problems.Add(gone.GetInt64(1), "deleted",
                $"The document {typeof(T).Name} '{StrictJson.Bounded(gone.GetString(0), 120)}' is gone, though the events of its stream are there.");
        logger.LogDebug("Checked {Count} {Model} documents against their streams", rows.Count, typeof(T).Name);
    }
}
