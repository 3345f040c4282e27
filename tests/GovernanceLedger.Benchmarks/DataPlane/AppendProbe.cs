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
}
