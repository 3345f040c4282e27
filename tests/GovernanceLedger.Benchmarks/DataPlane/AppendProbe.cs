using System.Diagnostics;
using GovernanceLedger.Contracts.Access;
using JasperFx.Events;
using Marten;
using Npgsql;

namespace GovernanceLedger.Benchmarks.DataPlane;

/// <summary>How fast access events go into one stream through Marten, by batch size and append mode.</summary>
public static class AppendProbe
{
    public static async Task RunAsync()
    {
        var server = Environment.GetEnvironmentVariable("GOVLEDGER_PG")!;
        await InsertOrCopyAsync(server);
        await using (var source = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(server) { Database = "postgres" }.ConnectionString))
        {
            await using (var create = source.CreateCommand("create table if not exists probe_journal (id bigserial primary key, stream_id text not null, type text not null, data jsonb not null)"))
                await create.ExecuteNonQueryAsync();
            var json = System.Text.Json.JsonSerializer.Serialize(new AccessRecorded(Guid.NewGuid().ToString("N"), "probe", null, "user", "jti", "gateway", "crm", "GET",
                "/gw/crm/contacts", 200, 1.5, 0, 100, "allow", "served", "runtime-scopes-required", 1, null, DateTimeOffset.UtcNow));
            foreach (var batch in new[] { 1, 10, 100, 1000 })
            {
                var total = Math.Min(20_000, batch * 400);
                var sw = Stopwatch.StartNew();
                for (var done = 0; done < total; done += batch)
                {
                    await using var command = source.CreateCommand("insert into probe_journal (stream_id, type, data) select unnest($1::text[]), unnest($2::text[]), unnest($3::jsonb[])");
                    command.Parameters.Add(new NpgsqlParameter { Value = Enumerable.Repeat("access:probe", batch).ToArray() });
                    command.Parameters.Add(new NpgsqlParameter { Value = Enumerable.Repeat("access_recorded", batch).ToArray() });
                    command.Parameters.Add(new NpgsqlParameter { Value = Enumerable.Repeat(json, batch).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Jsonb });
                    await command.ExecuteNonQueryAsync();
                }
                Console.WriteLine($"Npgsql batch {batch,5}: {total / sw.Elapsed.TotalSeconds,9:N0} rows/s     {sw.Elapsed.TotalMilliseconds / (total / batch),8:0.00} ms per commit");
            }
        }
        foreach (var mode in new[] { EventAppendMode.Quick, EventAppendMode.Rich })
        {
            var db = new NpgsqlConnectionStringBuilder(server) { Database = "postgres" }.ConnectionString;
            await using var store = DocumentStore.For(o =>
            {
                o.Connection(db);
                o.DatabaseSchemaName = $"probe_{mode.ToString().ToLowerInvariant()}";
                o.Events.StreamIdentity = StreamIdentity.AsString;
                o.Events.AppendMode = mode;
            });
            await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
            foreach (var batch in new[] { 1, 10, 100, 1000 })
            {
                var stream = $"access:probe:{batch}:{Guid.NewGuid():N}";
                var total = Math.Min(20_000, batch * 400);
                var sw = Stopwatch.StartNew();
                for (var done = 0; done < total; done += batch)
                {
                    await using var session = store.LightweightSession();
                    session.Events.Append(stream, Enumerable.Range(0, batch).Select(i => (object)new AccessRecorded(
                        Guid.NewGuid().ToString("N"), "probe", null, "user", "jti", "gateway", "crm", "GET", "/gw/crm/contacts", 200, 1.5, 0, 100,
                        "allow", "served", "runtime-scopes-required", 1, null, DateTimeOffset.UtcNow)).ToArray());
                    await session.SaveChangesAsync();
                }
                Console.WriteLine($"{mode,-6} batch {batch,5}: {total / sw.Elapsed.TotalSeconds,9:N0} events/s   {sw.Elapsed.TotalMilliseconds / (total / batch),8:0.00} ms per commit");
            }
        }
    }

    /// <summary>
    /// PostgreSQL's own CPU per access event for the writer's set-based INSERT against binary COPY, into a Marten events
    /// table with the ledger's indexes (type index, stream prefix index) and Marten's foreign key to its streams table,
    /// at the batch sizes the group commit sees. CPU is the appending backend's, from /proc (utime + stime).
    /// </summary>
    private static async Task InsertOrCopyAsync(string server)
    {
        var db = new NpgsqlConnectionStringBuilder(server) { Database = "postgres" }.ConnectionString;
        await using var store = DocumentStore.For(o =>
        {
            o.Connection(db);
            o.DatabaseSchemaName = "probe_copy";
            o.Events.StreamIdentity = StreamIdentity.AsString;
            o.Events.AppendMode = EventAppendMode.Quick;
            o.Events.EnableEventTypeIndex = true;
        });
        await using (var clean = NpgsqlDataSource.Create(db).CreateCommand("drop schema if exists probe_copy cascade")) await clean.ExecuteNonQueryAsync();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await using (var first = store.LightweightSession())
        {
            // Marten creates its event tables on the first append.
            first.Events.Append($"access:probe:first:{Guid.NewGuid():N}", new AccessRecorded(Guid.NewGuid().ToString("N"), "probe", null, null, null,
                "gateway", "crm", "GET", "/", 200, 1, 0, 0, "allow", "served", null, null, null, DateTimeOffset.UtcNow));
            await first.SaveChangesAsync();
        }
        // Prepared after two uses, as the ledger's writer connections are: a row's cost, not the statement's planning.
        await using var source = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(db) { MaxAutoPrepare = 16, AutoPrepareMinUsages = 2 }.ConnectionString);
        await using (var index = source.CreateCommand("create index if not exists ix_probe_stream_seq on probe_copy.mt_events (stream_id text_pattern_ops, seq_id)"))
            await index.ExecuteNonQueryAsync();
        var serializer = store.Options.Serializer();
        string Json() => serializer.ToJson(new AccessRecorded(Guid.NewGuid().ToString("N"), "probe", null, "user@example.com", Guid.NewGuid().ToString("N"),
            "gateway", "crm", "GET", "/gw/crm/contacts", 200, 1.5, 0, 100, "allow", "served", "runtime-scopes-required", 1,
            System.Diagnostics.ActivityTraceId.CreateRandom().ToString(), DateTimeOffset.UtcNow));
        Console.WriteLine("PostgreSQL CPU per access event, one backend appending (µs, /proc utime+stime of the backend):");
        // The same prepared statements held to one generic plan (a custom plan is planned again on every execution).
        await using var generic = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(db)
            { MaxAutoPrepare = 16, AutoPrepareMinUsages = 2, Options = "-c plan_cache_mode=force_generic_plan" }.ConnectionString);
        async Task MeasureAsync(string method, int batch, Func<string> Json, string label, NpgsqlDataSource? from = null)
            {
                await using var connection = await (from ?? source).OpenConnectionAsync();
                await using (var pid = new NpgsqlCommand("select pg_backend_pid()", connection))
                {
                    var backend = (int)(await pid.ExecuteScalarAsync())!;
                    var stream = $"access:probe:{method}:{batch}:{Guid.NewGuid():N}";
                    await using (var create = new NpgsqlCommand("insert into probe_copy.mt_streams (id, version, timestamp, tenant_id) values ($1, 0, now(), '*DEFAULT*')", connection))
                    {
                        create.Parameters.Add(new NpgsqlParameter { Value = stream });
                        await create.ExecuteNonQueryAsync();
                    }
                    var total = 26_000 / batch * batch;
                    long version = 0;
                    var before = ProcessCpu.Of(backend);
                    var sw = Stopwatch.StartNew();
                    for (var done = 0; done < total; done += batch)
                    {
                        var data = Enumerable.Range(0, batch).Select(_ => Json()).ToArray();
                        var versions = Enumerable.Range(1, batch).Select(i => version + i).ToArray();
                        version += batch;
                        if (method == "insert")
                        {
                            await using var insert = new NpgsqlCommand("""
                                insert into probe_copy.mt_events (seq_id, id, stream_id, version, data, type, tenant_id, timestamp, mt_dotnet_type, is_archived)
                                select nextval('probe_copy.mt_events_sequence'), x.id, $2, x.version, x.data::jsonb, 'access_recorded', '*DEFAULT*', now(), 'probe', false
                                from unnest($1::uuid[], $3::bigint[], $4::text[]) as x(id, version, data)
                                """, connection);
                            insert.Parameters.Add(new NpgsqlParameter { Value = data.Select(_ => Guid.CreateVersion7()).ToArray() });
                            insert.Parameters.Add(new NpgsqlParameter { Value = stream });
                            insert.Parameters.Add(new NpgsqlParameter { Value = versions });
                            insert.Parameters.Add(new NpgsqlParameter { Value = data });
                            await insert.ExecuteNonQueryAsync();
                        }
                        else
                        {
                            await using var tx = await connection.BeginTransactionAsync();
                            var seqs = new List<long>(batch);
                            await using (var next = new NpgsqlCommand("select nextval('probe_copy.mt_events_sequence') from generate_series(1, $1)", connection, tx))
                            {
                                next.Parameters.Add(new NpgsqlParameter { Value = batch });
                                await using var reader = await next.ExecuteReaderAsync();
                                while (await reader.ReadAsync()) seqs.Add(reader.GetInt64(0));
                            }
                            var now = DateTimeOffset.UtcNow;
                            await using (var copy = await connection.BeginBinaryImportAsync(
                                "copy probe_copy.mt_events (seq_id, id, stream_id, version, data, type, tenant_id, timestamp, mt_dotnet_type, is_archived) from stdin (format binary)"))
                            {
                                for (var i = 0; i < batch; i++)
                                {
                                    await copy.StartRowAsync();
                                    await copy.WriteAsync(seqs[i], NpgsqlTypes.NpgsqlDbType.Bigint);
                                    await copy.WriteAsync(Guid.CreateVersion7(), NpgsqlTypes.NpgsqlDbType.Uuid);
                                    await copy.WriteAsync(stream, NpgsqlTypes.NpgsqlDbType.Varchar);
                                    await copy.WriteAsync(versions[i], NpgsqlTypes.NpgsqlDbType.Bigint);
                                    await copy.WriteAsync(data[i], NpgsqlTypes.NpgsqlDbType.Jsonb);
                                    await copy.WriteAsync("access_recorded", NpgsqlTypes.NpgsqlDbType.Varchar);
                                    await copy.WriteAsync("*DEFAULT*", NpgsqlTypes.NpgsqlDbType.Varchar);
                                    await copy.WriteAsync(now, NpgsqlTypes.NpgsqlDbType.TimestampTz);
                                    await copy.WriteAsync("probe", NpgsqlTypes.NpgsqlDbType.Varchar);
                                    await copy.WriteAsync(false, NpgsqlTypes.NpgsqlDbType.Boolean);
                                }
                                await copy.CompleteAsync();
                            }
                            await tx.CommitAsync();
                        }
                    }
                    var cpu = ProcessCpu.Of(backend) - before;
                    Console.WriteLine($"  {label,-58} {cpu / total,7:N1} µs per event   {total / sw.Elapsed.TotalSeconds,9:N0} events/s");
                }
            }
        foreach (var batch in new[] { 13, 50, 200 })
            foreach (var method in new[] { "insert", "copy" })
                await MeasureAsync(method, batch, Json, $"{method} batch {batch}");
        foreach (var batch in new[] { 13, 50 })
            await MeasureAsync("insert", batch, Json, $"insert batch {batch}, generic plan", generic);

        // What a row costs, taken apart at batch 50: each step removes one more thing the ledger's events table has.
        Console.WriteLine("  the same insert at batch 50, taking the row's costs away one at a time:");
        await MeasureAsync("insert", 50, Json, "as the ledger has it");
        await Execute("drop index probe_copy.ix_probe_stream_seq");
        await MeasureAsync("insert", 50, Json, "without the stream-prefix index");
        var typeIndex = (string)(await Scalar("select indexname from pg_indexes where schemaname = 'probe_copy' and tablename = 'mt_events' and indexdef like '%(type%'"))!;
        await Execute($"drop index probe_copy.{typeIndex}");
        await MeasureAsync("insert", 50, Json, "and without the event-type index");
        var foreignKey = (string)(await Scalar("select conname from pg_constraint where conrelid = 'probe_copy.mt_events'::regclass and contype = 'f'"))!;
        await Execute($"alter table probe_copy.mt_events drop constraint {foreignKey}");
        await MeasureAsync("insert", 50, Json, "and without the foreign key to the streams table");
        await MeasureAsync("insert", 50, () => "{}", "and with an empty JSON document instead of the event");

        async Task Execute(string sql)
        {
            await using var command = source.CreateCommand(sql);
            await command.ExecuteNonQueryAsync();
        }
        async Task<object?> Scalar(string sql)
        {
            await using var command = source.CreateCommand(sql);
            return await command.ExecuteScalarAsync();
        }
    }
}
