using System.Reflection;
using GovernanceLedger.Infrastructure;
using Marten;
using Npgsql;

namespace GovernanceLedger.Audit.Verifying;

/// <summary>
/// The documents the ledger decides from are not chained, but each is its events folded: the app catalog the gateway
/// admits by, the policies in force, the approved SQL of a template and the other single-stream read models, and the
/// multi-stream ones (topic grants, the schema registry). They are written in the same transaction as their events, so
/// each must equal its events folded again now. One edited by hand (a paused app made active, an approved template's SQL
/// swapped, a revoked topic grant made active, the registry's compatibility level lowered), one whose stream it no longer
/// follows, one no event makes, and one that is gone though its events are there, are named.
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
        foreach (var (projection, arguments) in MultiStreamModels())
            await (Task)typeof(ReadModelCheck).GetMethod(nameof(CheckMultiStreamAsync), BindingFlags.NonPublic | BindingFlags.Instance)!
                .MakeGenericMethod(arguments).Invoke(this, [projection, problems, ct])!;
    }

    /// <summary>
    /// The read models folded inline from the events of many streams, as the store runs them: topic grants (who may read or
    /// produce to a topic) and the schema registry's subjects, schemas and compatibility level. Usage is summed in place by
    /// the access ledger, and the detectors' activity follows the ledger on the async daemon, behind it by design.
    /// </summary>
    private IEnumerable<(object Projection, Type[] Arguments)> MultiStreamModels() =>
        store.Options.Events.Projections()
            .Where(p => p.Lifecycle == JasperFx.Events.Projections.ProjectionLifecycle.Inline)
            .Select(p => (Projection: (object)p, Base: MultiStreamBaseOf(p.GetType())))
            .Where(x => x.Base is not null && x.Base.GetGenericArguments()[0] != typeof(Projections.Chargeback.UsageDay))
            .OrderBy(x => x.Base!.GetGenericArguments()[0].Name, StringComparer.Ordinal)
            .Select(x => (x.Projection, x.Base!.GetGenericArguments()));

    public IReadOnlyList<Type> MultiStreamDocuments => MultiStreamModels().Select(m => m.Arguments[0]).ToList();

    private static Type? MultiStreamBaseOf(Type type)
    {
        for (var t = type; t is not null; t = t.BaseType)
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Marten.Events.Projections.MultiStreamProjection<,>)) return t;
        return null;
    }

    /// <summary>
    /// Every document of a multi-stream read model against the events it folds, sliced and folded again by the projection
    /// itself: one that differs, one no event makes, and one the events make that is gone, are named.
    /// </summary>
    private async Task CheckMultiStreamAsync<T, TId>(Marten.Events.Projections.MultiStreamProjection<T, TId> projection, ProblemList problems,
        CancellationToken ct) where T : class where TId : notnull
    {
        // The events and the documents are read one after the other: a grant committed between the two reads would look like
        // an edit. A finding is reported only when a second look, after the first, finds it again.
        var first = await FindMultiStreamAsync(projection, ct);
        if (first.Count == 0) return;
        var again = await FindMultiStreamAsync(projection, ct);
        foreach (var finding in again.Where(f => f.Key.Length == 0 || first.Any(g => g.Key == f.Key)))
            problems.Add(finding.Sequence, finding.Reason, finding.Detail);
    }

    private sealed record Finding(string Key, long Sequence, string Reason, string Detail);

    private async Task<List<Finding>> FindMultiStreamAsync<T, TId>(Marten.Events.Projections.MultiStreamProjection<T, TId> projection,
        CancellationToken ct) where T : class where TId : notnull
    {
        var problems = new List<Finding>();
        var serializer = store.Options.Serializer();
        await using var session = store.QuerySession();
        var types = projection.AllEventTypes;
        var folded = new Dictionary<string, (T? Document, long First, long Last)>(StringComparer.Ordinal);
        try
        {
            var events = await session.Events.QueryAllRawEvents().Where(e => Marten.Events.LinqExtensions.EventTypesAre(e, types)).OrderBy(e => e.Sequence).ToListAsync(ct);
            // The projection's own slicer gives each document its events (one group per tenant; the ledger has one).
            var groups = await projection.BuildSlicer(session).SliceAsync(events);
            foreach (var slice in groups.Cast<JasperFx.Events.Grouping.SliceGroup<T, TId>>().SelectMany(g => g.Slices))
            {
                var sliced = slice.Events();
                var (document, _) = await projection.DetermineActionAsync(session, null!, slice.Id, KeepsIdentity<T, TId>.Instance, sliced, ct);
                if (sliced.Count > 0)
                    folded[Key(slice.Id)] = (document, sliced.Min(e => e.Sequence), sliced.Max(e => e.Sequence));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Events that no longer read back are named by the walk and the column check; this model cannot be folded without them.
            logger.LogWarning(e, "Verify could not fold the {Model} documents again", typeof(T).Name);
            return [new Finding("", 0, "edited", $"The {typeof(T).Name} documents could not be folded again from their events ({e.GetType().Name}).")];
        }

        var table = store.Options.Schema.For(typeof(T));
        var found = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = ledger.Reads.CreateCommand($"select d.id::text, d.data::text from {table} d order by d.id"))
        await using (var reader = await command.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct) && found < MaxPerModel)
            {
                var id = reader.GetString(0);
                seen.Add(id);
                var name = $"{typeof(T).Name} '{StrictJson.Bounded(id, 120)}'";
                if (!folded.TryGetValue(id, out var want) || want.Document is null)
                {
                    found++;
                    problems.Add(new Finding("inserted:" + id, 0, "inserted", $"The document {name} is made by none of the events it folds: it was written behind the ledger's back."));
                    continue;
                }
                string have;
                try
                {
                    have = serializer.ToJson(serializer.FromJson<T>(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(reader.GetString(1)))));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    found++;
                    problems.Add(new Finding("edited:" + id, want.Last, "edited", $"The document {name} no longer reads back ({e.GetType().Name}): it was edited behind the ledger's back."));
                    continue;
                }
                var expected = serializer.ToJson(want.Document);
                if (expected != have)
                {
                    found++;
                    problems.Add(new Finding("edited:" + id, want.Last, "edited",
                        $"The document {name} differs from the events it folds, folded again ({string.Join(", ", Differing(expected, have))}): it was edited behind the ledger's back."));
                }
            }
        foreach (var (id, want) in folded.Where(f => f.Value.Document is not null && !seen.Contains(f.Key)).OrderBy(f => f.Value.First).Take(MaxPerModel))
            problems.Add(new Finding("deleted:" + id, want.First, "deleted", $"The document {typeof(T).Name} '{StrictJson.Bounded(id, 120)}' is gone, though the events that make it are there."));
        logger.LogDebug("Checked {Count} {Model} documents against the events they fold", seen.Count, typeof(T).Name);
        return problems;
    }

    /// <summary>The projections' Create methods set the document's id themselves.</summary>
    private sealed class KeepsIdentity<T, TId> : JasperFx.Events.Aggregation.IIdentitySetter<T, TId>
    {
        public static readonly KeepsIdentity<T, TId> Instance = new();
        private static readonly PropertyInfo Id = typeof(T).GetProperty("Id")!;
        public void SetIdentity(T document, TId identity) { }
        public TId Identity(T document) => (TId)Id.GetValue(document)!;
    }

    /// <summary>
    /// The members Marten fills from the stream's metadata rather than from the events' content: the catalog's StreamVersion
    /// and Marten's own version member (a top-level Version of int or long). Quick appends leave them behind the stream.
    /// </summary>
    private static IEnumerable<PropertyInfo> StreamMetadata(Type document) =>
        new[] { document.GetProperty("StreamVersion"), document.GetProperty("Version") }
            .Where(p => p is { CanWrite: true } && (p.PropertyType == typeof(long) || p.PropertyType == typeof(int))).OfType<PropertyInfo>();

    private static string Key<TId>(TId id) => Convert.ToString(id, System.Globalization.CultureInfo.InvariantCulture) ?? "";

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
            // Ahead of its events: they were deleted, and the chain names them. Behind them is not a finding by itself: Marten's
            // quick append leaves a document's revision behind its stream when events are appended without reading it first
            // (a topic's reconciliation, a registry level). Its content against its events folded again is the check.
            if (version > streamVersion) continue;
            T? folded, stored;
            try
            {
                // To the version read with the document, in the same statement: events appended since do not make it differ.
                folded = await session.Events.AggregateStreamAsync<T>(id, version: streamVersion.Value, token: ct);
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
            // append leaves it behind when events are appended without reading the stream first.
            // Behind only: a version member ahead of what the events make is still named.
            if (folded is not null)
                foreach (var copied in StreamMetadata(typeof(T)))
                    if (Convert.ToInt64(copied.GetValue(stored)) < Convert.ToInt64(copied.GetValue(folded))) copied.SetValue(folded, copied.GetValue(stored));
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
