using System.Text.Json;
using GovernanceLedger.DataProxy;
using GovernanceLedger.Policies;
using Microsoft.Extensions.Options;

namespace GovernanceLedger.Warehouse;

/// <summary>What a warehouse read answered, and its cost tag: the rows and bytes it scanned.</summary>
public sealed record WarehouseRead(WarehouseAnswer Answer, long ScannedRows, long ScannedBytes);

/// <summary>
/// Dataset queries the warehouse serves: the data proxy's structured query, turned into the same parameterised SELECT
/// (DuckDB reads PostgreSQL's $n placeholders and casts), run read-only, and priced the way cloud warehouses bill: every
/// row of the table, and the stored bytes of each column the query names (its select list, filter and order).
/// </summary>
public sealed class WarehouseReads(IWarehouse warehouse, IOptionsMonitor<WarehouseOptions> options)
{
    /// <summary>What the ledger records as the "database role" of a warehouse read.</summary>
    public const string Role = "warehouse:read-only";

    public static bool Serves(DatasetEntry dataset) => dataset.Source == WarehouseOptions.SourceName;

    /// <summary>The warehouse table behind a dataset: its view, without the schema.</summary>
    public static string TableOf(DatasetEntry dataset) => dataset.View.Split('.')[^1];

    public async Task<WarehouseRead> ReadAsync(DatasetEntry dataset, DatasetQuery query, string? region, int maxRows, CancellationToken ct)
    {
        // The warehouse has no row-level security of its own: the region is a filter the proxy adds, and no region reads nothing.
        if (dataset.RlsKey is { } key)
        {
            if (string.IsNullOrEmpty(region)) return new WarehouseRead(new WarehouseAnswer(query.Fields, [], false), 0, 0);
            query = query with { Filter = [.. query.Filter, new Clause(key, "eq", [JsonSerializer.SerializeToElement(region)])] };
        }
        var (sql, parameters) = query.ToSql(dataset.View);
        var answer = await warehouse.QueryAsync(sql, parameters.Select(p => new KeyValuePair<string?, object?>(null, p)).ToList(), maxRows,
            TimeSpan.FromSeconds(options.CurrentValue.QueryTimeoutSeconds), ct);
        var (rows, bytes) = Scanned(TableOf(dataset), query.Fields.Concat(query.Filter.Select(c => c.Field)).Concat(query.OrderBy.Select(o => o.Field)));
        return new WarehouseRead(answer, rows, bytes);
    }

    /// <summary>The rows and bytes a read of these columns of a table scans.</summary>
    public (long Rows, long Bytes) Scanned(string table, IEnumerable<string> columns)
    {
        if (warehouse.Stats(table) is not { } stats) return (0, 0);
        var named = columns.ToHashSet(StringComparer.OrdinalIgnoreCase);
        return (stats.Rows, stats.ColumnBytes.Where(c => named.Contains(c.Key)).Sum(c => c.Value));
    }

    public static bool IsQueryFailure(Exception e) => e is DuckDB.NET.Data.DuckDBException or TimeoutException or WarehouseUnavailableException or AnswerTooLargeException;

    /// <summary>A failed warehouse query in the app's terms; the warehouse's own text stays in the log.</summary>
    public static (int Status, string Rule, string Reason) Refusal(Exception e) => e switch
    {
        TimeoutException t => (StatusCodes.Status504GatewayTimeout, "statement-timeout", t.Message),
        AnswerTooLargeException a => (StatusCodes.Status422UnprocessableEntity, "answer-too-large", a.Message),
        WarehouseUnavailableException => (StatusCodes.Status503ServiceUnavailable, "warehouse-unavailable", "The warehouse is unavailable on this host."),
        DuckDB.NET.Data.DuckDBException d when d.Message.Contains("Out of Memory Error", StringComparison.Ordinal)
            => (StatusCodes.Status422UnprocessableEntity, "memory-limit",
                "With these values the query needs more memory than the warehouse has (Warehouse:MemoryLimitMegabytes, and TempDirectoryMegabytes on disk)."),
        DuckDB.NET.Data.DuckDBException d when d.Message.Contains("Conversion Error", StringComparison.Ordinal)
            => (StatusCodes.Status400BadRequest, "value-type", "A filter value does not fit its field's type."),
        DuckDB.NET.Data.DuckDBException d when d.Message.Contains("does not exist", StringComparison.Ordinal)
            => (StatusCodes.Status503ServiceUnavailable, "not-exported", "The dataset has not been exported to the warehouse yet."),
        _ => (StatusCodes.Status502BadGateway, "source-error", "The warehouse refused the query.")
    };
}
