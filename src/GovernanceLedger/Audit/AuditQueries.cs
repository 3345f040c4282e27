using GovernanceLedger.Apps.IssuingTokens;
using GovernanceLedger.DataPlane;
using GovernanceLedger.DataProxy;
using GovernanceLedger.Infrastructure;
using Npgsql;

namespace GovernanceLedger.Audit;

/// <summary>
/// Reads the ledger for auditors. An app's events live in a known set of streams (its lifecycle,
/// its token, credential and per-day access streams), so timelines are index lookups by stream id.
/// </summary>
public sealed class AuditQueries(LedgerDatabase ledger, AuditSettings settings)
{
    private const string S = LedgerSetup.Schema;
    private readonly NpgsqlDataSource _source = ledger.Reads;

    /// <summary>
    /// The app's streams: its lifecycle and credential streams by name, its token, governance-refusal and
    /// access streams (one per day, and per shard) by prefix, which the text_pattern_ops index on stream_id serves.
    /// </summary>
    private const string AppStreams = "(stream_id = any($1) or stream_id like $2 or stream_id like $3 or stream_id like $4)";

    private static object[] AppStreamValues(string appId) =>
    [
        new[] { appId, EphemeralCredentials.StreamFor(appId) },
        Like(AccessLedger.StreamPrefix(appId, DateTimeOffset.UnixEpoch)[..^"1970-01-01:".Length]),
        Like(TokenStreams.For(appId, DateTimeOffset.UnixEpoch)[..^"1970-01-01".Length]),
        Like(GovernanceLedger.Apps.GovernanceStreams.For(appId, DateTimeOffset.UnixEpoch)[..^"1970-01-01".Length])
    ];

    private static string Like(string prefix) => prefix.Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%";

    /// <summary>Above this many streams in the window, one query by prefix beats a merge of per-stream scans.</summary>
    private const int MaxMergedStreams = 64;

    /// <summary>
    /// The app's streams that overlap the window (from the streams table), then a merge of per-stream
    /// scans on (stream_id, seq_id): PostgreSQL reads each stream in sequence order and stops once the
    /// page is full, instead of collecting and sorting every event of the day.
    /// </summary>
    public async Task<AuditPage> TimelineAsync(string appId, DateTimeOffset from, DateTimeOffset to, long cursor, int limit, CancellationToken ct)
    {
        var streams = new List<string>();
        await using (var find = _source.CreateCommand($"""
            select id from {S}.mt_streams
            where (id = any($1) or id like $2 or id like $3 or id like $4) and created < $5 and timestamp >= $6
            """))
        {
            foreach (var value in AppStreamValues(appId)) find.Parameters.Add(new NpgsqlParameter { Value = value });
            // Stream bookkeeping times and event times come from different statements: allow a little slack.
            find.Parameters.Add(new NpgsqlParameter { Value = to.AddMinutes(5) });
            find.Parameters.Add(new NpgsqlParameter { Value = from.AddMinutes(-5) });
            await using var reader = await find.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) streams.Add(reader.GetString(0));
        }
        if (streams.Count == 0) return new AuditPage([], null);
        if (streams.Count > MaxMergedStreams)
            return await PageAsync($"{AppStreams} and timestamp >= $5 and timestamp < $6 and seq_id > $7", [.. AppStreamValues(appId), from, to, cursor], limit, ct,
                byStream: true);

        const string columns = "seq_id, stream_id, version, type, timestamp, correlation_id, data::text";
        var branches = streams.Select((_, i) =>
            $"(select {columns} from {S}.mt_events where stream_id = ${i + 5} and seq_id > $1 and timestamp >= $2 and timestamp < $3 order by seq_id limit $4)");
        var sql = $"select * from ({string.Join(" union all ", branches)}) merged order by seq_id limit $4";
        return await ReadPageAsync(sql, [cursor, from, to, (long)limit + 1, .. streams], limit, ct);
    }

    public Task<AuditPage> DenialsAsync(string? appId, DateTimeOffset from, DateTimeOffset to, long cursor, int limit, CancellationToken ct) =>
        appId is null
            ? ChunkedAsync("type = 'access_recorded' and timestamp >= $1 and timestamp < $2 and data->>'Decision' = 'deny'", [from, to], cursor, limit, ct)
            : PageAsync("stream_id like $1 and timestamp >= $2 and timestamp < $3 and seq_id > $4 and type = 'access_recorded' and data->>'Decision' = 'deny'",
                [AppStreamValues(appId)[1], from, to, cursor], limit, ct, byStream: true);

    public Task<AuditPage> AccessAsync(string dataset, string? field, DateTimeOffset from, DateTimeOffset to, long cursor, int limit, CancellationToken ct) =>
        field is null
            ? ChunkedAsync("type = 'query_executed' and timestamp >= $1 and timestamp < $2 and data->>'Dataset' = $3", [from, to, dataset], cursor, limit, ct)
            : ChunkedAsync("type = 'query_executed' and timestamp >= $1 and timestamp < $2 and data->>'Dataset' = $3 and data->'Fields' ? $4",
                [from, to, dataset, field], cursor, limit, ct);

    /// <summary>
    /// Searches across all apps walk the sequence in slices of 20,000 events, each a
    /// bounded range on the (type, seq_id) index, until a page is full. PostgreSQL cannot estimate
    /// JSON predicates, and left to itself it scans the whole table to sort a few hundred rows.
    /// </summary>
    private async Task<AuditPage> ChunkedAsync(string where, object[] values, long cursor, int limit, CancellationToken ct)
    {
        const long Slice = 20_000;
        long head;
        await using (var max = _source.CreateCommand($"select coalesce(max(seq_id), 0) from {S}.mt_events"))
            head = (long)(await max.ExecuteScalarAsync(ct))!;
        var items = new List<AuditEvent>();
        var after = values.Length;
        var slice = $"{where} and seq_id > ${after + 1} and seq_id <= ${after + 2}";
        for (var low = cursor; low < head; low += Slice)
        {
            object[] bounds = [.. values, low, low + Slice];
            if (items.Count == limit)
            {
                // The page is full: one more match anywhere ahead means there is a next page.
                if ((await PageAsync(slice, bounds, 1, ct)).Items.Count > 0) return new AuditPage(items, items[^1].Sequence);
                continue;
            }
            // Whatever the slices, the page carries at most Audit:MaxPageChars of event data (and at least one event).
            var used = items.Sum(i => (long)i.Data.Text.Length);
            if (items.Count > 0 && used >= settings.MaxPageChars) return new AuditPage(items, items[^1].Sequence);
            var page = await PageAsync(slice, bounds, limit - items.Count, ct, budget: items.Count == 0 ? null : settings.MaxPageChars - used);
            items.AddRange(page.Items);
            if (page.NextCursor is not null) return new AuditPage(items, items[^1].Sequence);
        }
        return new AuditPage(items, null);
    }

    /// <summary>
    /// byStream: the app's own streams are a small part of the ledger, so find them by stream id first
    /// and sort that handful ("offset 0" keeps PostgreSQL from walking the whole sequence instead).
    /// </summary>
    private async Task<AuditPage> PageAsync(string where, object[] values, int limit, CancellationToken ct, bool byStream = false, long? budget = null)
    {
        const string columns = "seq_id, stream_id, version, type, timestamp, correlation_id, data::text";
        // byStream: sort only sequence numbers, then fetch the page's rows, so the sort never carries event bodies.
        var sql = byStream
            ? $"select {columns} from {S}.mt_events where seq_id in (select seq_id from (select seq_id from {S}.mt_events where {where} offset 0) s order by seq_id limit {limit + 1}) order by seq_id"
            : $"select {columns} from {S}.mt_events where {where} order by seq_id limit {limit + 1}";
        return await ReadPageAsync(sql, values, limit, ct, budget);
    }

    /// <summary>budget: the characters of event data the page may still carry (Audit:MaxPageChars when not given).</summary>
    private async Task<AuditPage> ReadPageAsync(string sql, object[] values, int limit, CancellationToken ct, long? budget = null)
    {
        await using var command = _source.CreateCommand(sql);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value });
        var items = new List<AuditEvent>(Math.Min(limit, 1000));
        var chars = 0L;
        await using (var reader = await command.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
            {
                var data = reader.GetString(6);
                // Full by size: the page ends here, and its cursor leads on to this event.
                if (items.Count > 0 && items.Count < limit && chars + data.Length > (budget ?? settings.MaxPageChars))
                    return new AuditPage(items, items[^1].Sequence);
                chars += data.Length;
                items.Add(new AuditEvent(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3),
                    reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetString(5), new RawJson(data)));
            }
        var more = items.Count > limit;
        if (more) items.RemoveAt(items.Count - 1);
        return new AuditPage(items, more ? items[^1].Sequence : null);
    }

}
