using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using Microsoft.Extensions.Options;

namespace GovernanceLedger.Warehouse;

/// <summary>The warehouse cannot be reached (its file is held by another process, or is not readable).</summary>
public sealed class WarehouseUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>A warehouse answer that grew past Warehouse:MaxAnswerBytes while it was read: it is not answered in part.</summary>
public sealed class AnswerTooLargeException(long max) : Exception($"The answer is larger than {max} bytes, the most the warehouse answers (Warehouse:MaxAnswerBytes).");

/// <summary>
/// The embedded warehouse: one DuckDB file. It is opened with external access off (no file, URL or extension reads, and
/// that cannot be turned back on while it runs), every query runs in a read-only transaction, and tables are replaced
/// whole. Row and byte counts per column are kept in a table of their own beside the data, written in the same
/// transaction as the table they describe.
/// </summary>
public sealed class DuckDbWarehouse : IWarehouse, IDisposable
{
    private const string StatsTable = "ledger_table_stats";
    private readonly string _connectionString;
    private readonly Lock _opening = new();
    private DuckDBConnection? _holder;
    private readonly ConcurrentDictionary<string, TableStats> _stats = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _loads = new(1, 1);

    private readonly long _maxAnswerBytes;
    private readonly TimeSpan _planTimeout;

    public DuckDbWarehouse(IOptions<WarehouseOptions> options)
    {
        var settings = options.Value;
        foreach (var (name, value) in new[] { ("MemoryLimitMegabytes", settings.MemoryLimitMegabytes), ("TempDirectoryMegabytes", settings.TempDirectoryMegabytes), ("Threads", settings.Threads) })
            if (value < 1) throw new InvalidOperationException($"Warehouse:{name} must be at least 1 (it is {value}).");
        _maxAnswerBytes = settings.MaxAnswerBytes;
        _planTimeout = TimeSpan.FromSeconds(settings.QueryTimeoutSeconds);
        Location = System.IO.Path.GetFullPath(settings.Path);
        // Bounded by configuration, not by the machine: a query the warehouse cannot answer within them is refused, and the
        // host serving the data plane beside it keeps its memory and a core.
        _connectionString = $"Data Source={Location};enable_external_access=false;memory_limit={settings.MemoryLimitMegabytes}MB;"
            + $"max_temp_directory_size={settings.TempDirectoryMegabytes}MB;threads={settings.Threads}";
    }

    /// <summary>
    /// Opens the file on first use, not at start: a DuckDB file belongs to one process, and a host that never touches the
    /// warehouse (a second instance, a tool run against the same ledger) must not take it. One connection stays open for
    /// the host's life and keeps the database instance every other connection shares.
    /// </summary>
    private void EnsureOpen()
    {
        if (_holder is not null) return;
        lock (_opening)
        {
            if (_holder is not null) return;
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Location)!);
            var holder = new DuckDBConnection(_connectionString);
            try
            {
                holder.Open();
            }
            catch (DuckDBException e)
            {
                holder.Dispose();
                throw new WarehouseUnavailableException($"The warehouse file {Location} cannot be opened: {e.Message}", e);
            }
            Execute(holder, $"create table if not exists {StatsTable} (table_name varchar, column_name varchar, column_type varchar, rows bigint, bytes bigint)");
            // A load interrupted by a crash leaves its staging table behind; it was never the table.
            foreach (var staging in Strings(holder, "select table_name from duckdb_tables() where table_name like '%__loading_%'"))
                Execute(holder, $"drop table if exists {Quote(staging)}");
            LoadStats(holder);
            _holder = holder;
        }
    }

    public string Kind => "duckdb";
    public string Location { get; }

    public TableStats? Stats(string table)
    {
        EnsureOpen();
        return _stats.GetValueOrDefault(table);
    }

    public async Task<TableStats> ReplaceTableAsync(string table, IReadOnlyList<LoadColumn> columns, IAsyncEnumerable<object?[]> rows,
        Func<TableStats, Task> beforeCommit, CancellationToken ct)
    {
        EnsureOpen();
        await _loads.WaitAsync(ct);
        try
        {
            await using var connection = new DuckDBConnection(_connectionString);
            await connection.OpenAsync(ct);
            var staging = $"{table}__loading_{Guid.NewGuid():N}";
            var types = columns.Select(c => TypeFor(c.ClrType)).ToList();
            Execute(connection, $"create table {Quote(staging)} ({string.Join(", ", columns.Select((c, i) => $"{Quote(c.Name)} {types[i]}"))})");
            try
            {
                var bytes = new long[columns.Count];
                long count = 0;
                using (var appender = connection.CreateAppender(staging))
                {
                    await foreach (var values in rows.WithCancellation(ct))
                    {
                        var row = appender.CreateRow();
                        for (var i = 0; i < values.Length; i++)
                        {
                            bytes[i] += SizeOf(values[i], types[i]);
                            Append(row, values[i], types[i]);
                        }
                        row.EndRow();
                        count++;
                    }
                }
                var stats = new TableStats(table, count,
                    columns.Select((c, i) => (c.Name, bytes[i])).ToDictionary(x => x.Name, x => x.Item2, StringComparer.Ordinal),
                    columns.Select((c, i) => (c.Name, types[i])).ToDictionary(x => x.Name, x => x.Item2, StringComparer.Ordinal));

                Execute(connection, "begin transaction");
                try
                {
                    Execute(connection, $"drop table if exists {Quote(table)}");
                    Execute(connection, $"alter table {Quote(staging)} rename to {Quote(table)}");
                    using (var delete = connection.CreateCommand())
                    {
                        delete.CommandText = $"delete from {StatsTable} where table_name = $1";
                        delete.Parameters.Add(new DuckDBParameter(table));
                        delete.ExecuteNonQuery();
                    }
                    foreach (var column in columns)
                    {
                        using var insert = connection.CreateCommand();
                        insert.CommandText = $"insert into {StatsTable} values ($1, $2, $3, $4, $5)";
                        foreach (object? value in new object[] { table, column.Name, stats.ColumnTypes[column.Name], count, stats.ColumnBytes[column.Name] })
                            insert.Parameters.Add(new DuckDBParameter(value));
                        insert.ExecuteNonQuery();
                    }
                    await beforeCommit(stats);
                    Execute(connection, "commit");
                }
                catch
                {
                    Execute(connection, "rollback");
                    throw;
                }
                // The replaced table's pages are released and the file holds only the new one.
                Execute(connection, "checkpoint");
                _stats[table] = stats;
                return stats;
            }
            finally
            {
                Execute(connection, $"drop table if exists {Quote(staging)}");
            }
        }
        finally
        {
            _loads.Release();
        }
    }

    public async Task<WarehouseAnswer> QueryAsync(string sql, IReadOnlyList<KeyValuePair<string?, object?>> parameters, int maxRows, TimeSpan timeout,
        CancellationToken ct)
    {
        EnsureOpen();
        await using var connection = new DuckDBConnection(_connectionString);
        await connection.OpenAsync(ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        Execute(connection, "begin transaction read only");
        try
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
                command.Parameters.Add(name is null ? new DuckDBParameter(value ?? DBNull.Value) : new DuckDBParameter(name, value ?? DBNull.Value));
            // DuckDB stops a running query when asked to: the timeout interrupts it.
            await using var stop = limit.Token.Register(() => { try { command.Cancel(); } catch (ObjectDisposedException) { } });
            await using var reader = await command.ExecuteReaderAsync(limit.Token);
            var names = Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToList();
            var rows = new List<object?[]>();
            var truncated = false;
            long bytes = 0;
            while (await reader.ReadAsync(limit.Token))
            {
                if (rows.Count >= maxRows) { truncated = true; break; }
                var row = new object?[names.Count];
                for (var i = 0; i < row.Length; i++)
                {
                    row[i] = reader.IsDBNull(i) ? null : Normalise(reader.GetValue(i));
                    bytes += AnswerSize(row[i]);
                }
                if (bytes > _maxAnswerBytes) throw new AnswerTooLargeException(_maxAnswerBytes);
                rows.Add(row);
            }
            return new WarehouseAnswer(names, rows, truncated);
        }
        catch (Exception e) when (e is OperationCanceledException or DuckDBException && limit.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new TimeoutException($"The warehouse query ran longer than {timeout.TotalSeconds:0} s.");
        }
        finally
        {
            Execute(connection, "rollback");
        }
    }

    /// <summary>Leaf operators that read nothing but what their parent gives them, or constants.</summary>
    private static readonly HashSet<string> InnerSources =
        ["DUMMY_SCAN", "EMPTY_RESULT", "COLUMN_DATA_SCAN", "CTE_SCAN", "DELIM_SCAN", "CHUNK_SCAN", "RECURSIVE_CTE_SCAN", "EXPRESSION_SCAN", "RECURSIVE_RECURRING_CTE_SCAN"];

    public async Task<ReadPlan> PlanAsync(string sql, IReadOnlyList<KeyValuePair<string?, object?>> parameters, CancellationToken ct)
    {
        // Planning runs before a template is reviewed and before every run's own timeout: it is held to the same bound, and
        // interrupted at it, whatever the statement would cost to run.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(_planTimeout);
        try
        {
            return await PlanWithinAsync(sql, parameters, limit.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or DuckDBException && limit.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new TimeoutException($"Planning the query ran longer than {_planTimeout.TotalSeconds:0} s (Warehouse:QueryTimeoutSeconds).");
        }
    }

    private async Task<ReadPlan> PlanWithinAsync(string sql, IReadOnlyList<KeyValuePair<string?, object?>> parameters, CancellationToken ct)
    {
        EnsureOpen();
        await using var connection = new DuckDBConnection(_connectionString);
        await connection.OpenAsync(ct);
        // Column pruning stays on (it says which columns a scan reads); what could fold a filter away or move it into the
        // scan is off, so every column a filter tests stays in the scan's list.
        Execute(connection, "set disabled_optimizers = 'expression_rewriter,filter_pullup,filter_pushdown,statistics_propagation,empty_result_pullup'");
        string database;
        using (var current = connection.CreateCommand())
        {
            current.CommandText = "select current_database()";
            database = (string)current.ExecuteScalar()!;
        }
        await using var command = connection.CreateCommand();
        command.CommandText = "explain (format json) " + sql;
        foreach (var (name, value) in parameters)
            command.Parameters.Add(name is null ? new DuckDBParameter(value ?? DBNull.Value) : new DuckDBParameter(name, value ?? DBNull.Value));
        string json;
        try
        {
            await using (ct.Register(() => { try { command.Cancel(); } catch (ObjectDisposedException) { } }))
            await using (var reader = await command.ExecuteReaderAsync(ct))
            {
                if (!await reader.ReadAsync(ct)) throw new InvalidOperationException("EXPLAIN gave no plan.");
                json = reader.GetString(1);
            }
        }
        finally
        {
            // The setting is the whole warehouse's (DuckDB has it global only): runs get their optimizers back at once.
            Execute(connection, "reset disabled_optimizers");
        }
        var tables = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var others = new List<string>();
        void Walk(System.Text.Json.Nodes.JsonNode? node)
        {
            if (node is System.Text.Json.Nodes.JsonArray array) { foreach (var item in array) Walk(item); return; }
            if (node is not System.Text.Json.Nodes.JsonObject op) return;
            var name = op["name"]?.GetValue<string>() ?? "?";
            var info = op["extra_info"] as System.Text.Json.Nodes.JsonObject;
            var children = op["children"] as System.Text.Json.Nodes.JsonArray;
            if (info?["Table"]?.GetValue<string>() is { } table)
            {
                var prefix = $"{database}.main.";
                if (!table.StartsWith(prefix, StringComparison.Ordinal)) others.Add(table);
                else
                {
                    var read = tables.TryGetValue(table[prefix.Length..], out var set) ? set : tables[table[prefix.Length..]] = [];
                    switch (info["Projections"])
                    {
                        case System.Text.Json.Nodes.JsonArray list: foreach (var c in list) read.Add(c!.GetValue<string>()); break;
                        case System.Text.Json.Nodes.JsonValue one when one.GetValue<string>() is { Length: > 0 } column: read.Add(column); break;
                    }
                }
            }
            else if (info?["Function"] is not null || (children is not { Count: > 0 } && !InnerSources.Contains(name)))
                others.Add(info?["Function"]?.GetValue<string>() ?? name);
            Walk(children);
        }
        Walk(System.Text.Json.Nodes.JsonNode.Parse(json));
        // The answer's column names as the warehouse names them, from DESCRIBE: the statement is bound, never run and never
        // optimised (a limit of 0 ran the whole statement with the optimizers off, and folded its constants with them on:
        // a cross join, or a levenshtein of two long repeats, took a core for as long as it ran, past every bound).
        var output = new List<string>();
        if (others.Count == 0)
        {
            Execute(connection, "begin transaction read only");
            try
            {
                await using var shape = connection.CreateCommand();
                shape.CommandText = $"describe select * from (\n{sql}\n) as template_answer";
                foreach (var (name, value) in parameters)
                    shape.Parameters.Add(name is null ? new DuckDBParameter(value ?? DBNull.Value) : new DuckDBParameter(name, value ?? DBNull.Value));
                await using var stop = ct.Register(() => { try { shape.Cancel(); } catch (ObjectDisposedException) { } });
                await using var reader = await shape.ExecuteReaderAsync(ct);
                var column = reader.GetOrdinal("column_name");
                while (await reader.ReadAsync(ct)) output.Add(reader.GetString(column));
            }
            finally
            {
                Execute(connection, "rollback");
            }
        }
        return new ReadPlan(tables.ToDictionary(t => t.Key, t => (IReadOnlyList<string>)t.Value.Order(StringComparer.Ordinal).ToList()), others.Distinct().ToList(),
            output);
    }

    /// <summary>Values as JSON writes them plainly: dates as yyyy-MM-dd, DuckDB's big integers as numbers.</summary>
    private static object? Normalise(object value) => value switch
    {
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTime t => DateTime.SpecifyKind(t, DateTimeKind.Utc),
        System.Numerics.BigInteger b => (decimal)b,
        // JSON has no NaN or infinity: they are answered by name.
        double x when !double.IsFinite(x) => x.ToString(CultureInfo.InvariantCulture),
        float x when !float.IsFinite(x) => x.ToString(CultureInfo.InvariantCulture),
        _ => value
    };

    private void LoadStats(DuckDBConnection holder)
    {
        using var command = holder.CreateCommand();
        command.CommandText = $"select table_name, column_name, column_type, rows, bytes from {StatsTable}";
        using var reader = command.ExecuteReader();
        var rows = new List<(string Table, string Column, string Type, long Rows, long Bytes)>();
        while (reader.Read()) rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4)));
        foreach (var table in rows.GroupBy(r => r.Table))
            _stats[table.Key] = new TableStats(table.Key, table.First().Rows, table.ToDictionary(r => r.Column, r => r.Bytes, StringComparer.Ordinal),
                table.ToDictionary(r => r.Column, r => r.Type, StringComparer.Ordinal));
    }

    private static string TypeFor(Type type) => (Nullable.GetUnderlyingType(type) ?? type) switch
    {
        var t when t == typeof(short) || t == typeof(int) => "INTEGER",
        var t when t == typeof(long) => "BIGINT",
        var t when t == typeof(decimal) => "DECIMAL(18,4)",
        var t when t == typeof(double) || t == typeof(float) => "DOUBLE",
        var t when t == typeof(bool) => "BOOLEAN",
        var t when t == typeof(DateOnly) => "DATE",
        var t when t == typeof(DateTime) || t == typeof(DateTimeOffset) => "TIMESTAMP",
        _ => "VARCHAR"
    };

    /// <summary>
    /// About what a value takes in a JSON answer: text and bytes by their length, a list, struct or map by what it holds
    /// (each element counted the same way, however deep), anything else a few bytes.
    /// </summary>
    private static long AnswerSize(object? value) => value switch
    {
        null => 4,
        string text => text.Length,
        byte[] binary => binary.Length * 2L,
        System.Collections.IDictionary map => 2 + map.Keys.Cast<object?>().Sum(key => AnswerSize(key) + AnswerSize(map[key!]) + 2),
        System.Collections.IEnumerable items => 2 + items.Cast<object?>().Sum(item => AnswerSize(item) + 1),
        _ => 16
    };

    private static long SizeOf(object? value, string type) => value is null or DBNull ? 0 : type switch
    {
        "VARCHAR" => Encoding.UTF8.GetByteCount(Text(value)),
        "BOOLEAN" => 1,
        "INTEGER" or "DATE" => 4,
        _ => 8
    };

    private static void Append(IDuckDBAppenderRow row, object? value, string type)
    {
        if (value is null or DBNull) { row.AppendNullValue(); return; }
        switch (type)
        {
            case "INTEGER": row.AppendValue(Convert.ToInt32(value, CultureInfo.InvariantCulture)); break;
            case "BIGINT": row.AppendValue(Convert.ToInt64(value, CultureInfo.InvariantCulture)); break;
            case "DECIMAL(18,4)": row.AppendValue(Convert.ToDecimal(value, CultureInfo.InvariantCulture)); break;
            case "DOUBLE": row.AppendValue(Convert.ToDouble(value, CultureInfo.InvariantCulture)); break;
            case "BOOLEAN": row.AppendValue((bool)value); break;
            case "DATE": row.AppendValue((DateOnly)value); break;
            case "TIMESTAMP": row.AppendValue(value is DateTimeOffset o ? o.UtcDateTime : (DateTime)value); break;
            default: row.AppendValue(Text(value)); break;
        }
    }

    private static string Text(object value) => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";

    private static void Execute(DuckDBConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static List<string> Strings(DuckDBConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var values = new List<string>();
        while (reader.Read()) values.Add(reader.GetString(0));
        return values;
    }

    /// <summary>A DuckDB identifier, double-quoted with embedded quotes doubled.</summary>
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";

    public void Dispose()
    {
        _holder?.Dispose();
        _loads.Dispose();
    }
}
