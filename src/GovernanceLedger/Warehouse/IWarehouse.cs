namespace GovernanceLedger.Warehouse;

/// <summary>A column of a table being loaded: its name and the source's .NET type, which the warehouse maps to its own.</summary>
public sealed record LoadColumn(string Name, Type ClrType);

/// <summary>What a loaded table holds: rows, and bytes per column (what a query reading that column scans).</summary>
public sealed record TableStats(string Table, long Rows, IReadOnlyDictionary<string, long> ColumnBytes, IReadOnlyDictionary<string, string> ColumnTypes)
{
    public long Bytes => ColumnBytes.Values.Sum();
}

/// <summary>
/// What a statement reads, as the warehouse's planner bound it: per table of the warehouse, the columns its scans read;
/// and every other source (table functions, system views, anything that is not a warehouse table).
/// </summary>
public sealed record ReadPlan(IReadOnlyDictionary<string, IReadOnlyList<string>> Tables, IReadOnlyList<string> OtherSources, IReadOnlyList<string> Output);

/// <summary>A query's answer: the column names, at most the rows asked for, and whether there were more.</summary>
public sealed record WarehouseAnswer(IReadOnlyList<string> Columns, IReadOnlyList<object?[]> Rows, bool Truncated);

/// <summary>
/// The analytics warehouse the ledger exports to and reads from. The embedded implementation is DuckDB in a file
/// (<see cref="DuckDbWarehouse"/>); a cloud warehouse (BigQuery, Snowflake) implements the same four operations with its
/// own client: a load that replaces a table whole and becomes visible only when the ledger has recorded it, a read-only
/// parameterised query with a row cap and a timeout, and the table statistics queries are priced by.
/// </summary>
public interface IWarehouse
{
    /// <summary>A short name for the kind of warehouse (duckdb), used in lineage namespaces.</summary>
    string Kind { get; }

    /// <summary>Where the warehouse is, as lineage names it (a file path or a project).</summary>
    string Location { get; }

    /// <summary>
    /// Loads <paramref name="rows"/> into a staging table, then replaces <paramref name="table"/> with it in one transaction
    /// that commits only after <paramref name="beforeCommit"/> returns (the ledger's record of the run). If anything
    /// throws, the table is as it was and the staging table is gone.
    /// </summary>
    Task<TableStats> ReplaceTableAsync(string table, IReadOnlyList<LoadColumn> columns, IAsyncEnumerable<object?[]> rows,
        Func<TableStats, Task> beforeCommit, CancellationToken ct);

    /// <summary>Runs one SELECT in a read-only transaction with named or positional parameters, reading at most maxRows (+1 to tell truncation).</summary>
    Task<WarehouseAnswer> QueryAsync(string sql, IReadOnlyList<KeyValuePair<string?, object?>> parameters, int maxRows, TimeSpan timeout, CancellationToken ct);

    /// <summary>
    /// What a SELECT would read with these parameter values, from the planner (never from the text): aliases, positional
    /// references, whole-row references and shadowing CTEs are all resolved the way the query would run.
    /// </summary>
    Task<ReadPlan> PlanAsync(string sql, IReadOnlyList<KeyValuePair<string?, object?>> parameters, CancellationToken ct);

    /// <summary>The statistics of a loaded table, or null when the table has never been loaded.</summary>
    TableStats? Stats(string table);
}
