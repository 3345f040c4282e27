using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using DuckDB.NET.Data;
using GovernanceLedger.Benchmarks.DataPlane;
using Npgsql;

namespace GovernanceLedger.Benchmarks.Warehouse;

/// <summary>
/// The analytics warehouse: curated export throughput (rows/s from PostgreSQL into the DuckDB file, PII check and ledger
/// event included) beside the source read alone, and a warehouse query through the data proxy against the same query run
/// directly on a copy of the same warehouse file, in interleaved rounds. The ledger host runs as its own process.
/// </summary>
public static class WarehouseBenchmark
{
    private const int Rounds = 3;
    private const int Workers = 4;

    public static async Task RunAsync(int customers, TimeSpan duration)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromMinutes(10) };
        var warehouseFile = Path.Combine(Path.GetTempPath(), $"bench-warehouse-{Guid.NewGuid():N}.duckdb");
        await using var host = await BenchHost.StartAsync("warehouse", http, new Dictionary<string, string>
        {
            ["Warehouse__Scheduled"] = "false", ["Warehouse__Path"] = warehouseFile
        });
        var salesDb = Environment.GetEnvironmentVariable("GOVLEDGER_PG")! + $";Database={host.LedgerDb.Split("Database=")[1].Split(';')[0].Replace("ledger", "sales")}";
        await GrowCustomersAsync(salesDb, customers);
        var sql = (JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "appsettings.json")))!["Warehouse"]!["Exports"]![0]!["Sql"]!).GetValue<string>();

        var admin = await TokenAsync(http, host.BaseUrl, """{"sub":"bench.admin@example.com","roles":["platform-admin"]}""");
        Console.WriteLine($"Export customers-sanitized: {customers:N0} customers, {Rounds} runs (the table is replaced whole each run)");
        var exportRates = new List<double>();
        var sourceRates = new List<double>();
        for (var round = 1; round <= Rounds; round++)
        {
            var source = await ReadSourceAsync(salesDb, sql);
            sourceRates.Add(source.Rows / source.Seconds);
            var started = Stopwatch.GetTimestamp();
            var ran = await PostAsync(http, host.BaseUrl, "/warehouse/exports/customers-sanitized/runs", null, admin);
            var wall = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var rows = ran["rows"]!.GetValue<long>();
            exportRates.Add(rows / wall);
            Console.WriteLine($"  run {round}: {rows:N0} rows, {ran["bytes"]!.GetValue<long>() / 1e6:N1} MB in {wall:0.00} s = {rows / wall:N0} rows/s " +
                              $"(recorded {ran["duration_ms"]!.GetValue<double>():N0} ms); source read alone {source.Rows / source.Seconds:N0} rows/s");
        }
        exportRates.Sort();
        sourceRates.Sort();
        Console.WriteLine($"  export rows/s: median {exportRates[Rounds / 2]:N0}, range {exportRates[0]:N0}-{exportRates[^1]:N0}; " +
                          $"the source read alone: median {sourceRates[Rounds / 2]:N0} (export/read {exportRates[Rounds / 2] / sourceRates[Rounds / 2]:0.00})");

        // The direct side reads a copy of the file the host wrote (the host holds the original open).
        var copy = warehouseFile + ".direct";
        File.Copy(warehouseFile, copy, overwrite: true);
        await using var direct = new DuckDBConnection($"Data Source={copy};access_mode=READ_ONLY");
        await direct.OpenAsync();
        var appToken = await PrepareAppAsync(http, host.BaseUrl);
        const string body = """{"fields":["customer_id","email_hash","country"],"filter":[{"field":"country","op":"eq","value":"EMEA"}],"order_by":["customer_id"],"limit":20}""";
        // The statement the proxy builds for that body, run directly with the same parameter.
        const string directSql = "select \"customer_id\", \"email_hash\", \"country\" from \"main\".\"customers_sanitized\" where \"country\"::text = $1 order by \"customer_id\" asc limit 21";
        async Task<bool> Proxied()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"{host.BaseUrl}/data/customers_sanitized/query")
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json")
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", appToken);
            using var response = await http.SendAsync(request);
            await response.Content.CopyToAsync(Stream.Null);
            return response.IsSuccessStatusCode;
        }
        async Task<bool> Direct()
        {
            await using var connection = new DuckDBConnection($"Data Source={copy};access_mode=READ_ONLY");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = directSql;
            command.Parameters.Add(new DuckDBParameter("EMEA"));
            var rows = new List<object[]>();
            await using (var reader = await command.ExecuteReaderAsync())
                while (await reader.ReadAsync()) { var row = new object[3]; reader.GetValues(row); rows.Add(row); }
            System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(rows);
            return rows.Count == 21;
        }
        await LoadGenerator.ClosedLoopAsync("warm-up", Workers, TimeSpan.FromSeconds(3), Proxied);
        await LoadGenerator.ClosedLoopAsync("warm-up", Workers, TimeSpan.FromSeconds(3), Direct);
        Console.WriteLine($"Warehouse query ({customers:N0} rows, filter + order + limit 20): {Rounds} interleaved rounds of {duration.TotalSeconds:0} s, {Workers} workers");
        var ratios = new List<double>();
        for (var round = 1; round <= Rounds; round++)
        {
            LoadResult directResult, proxiedResult;
            if (round % 2 == 1)
            {
                directResult = await LoadGenerator.ClosedLoopAsync($"direct DuckDB query, round {round}", Workers, duration, Direct);
                proxiedResult = await LoadGenerator.ClosedLoopAsync($"proxied warehouse query, round {round}", Workers, duration, Proxied);
            }
            else
            {
                proxiedResult = await LoadGenerator.ClosedLoopAsync($"proxied warehouse query, round {round}", Workers, duration, Proxied);
                directResult = await LoadGenerator.ClosedLoopAsync($"direct DuckDB query, round {round}", Workers, duration, Direct);
            }
            Console.WriteLine($"  {directResult}");
            Console.WriteLine($"  {proxiedResult}");
            ratios.Add(proxiedResult.PerSecond / directResult.PerSecond);
        }
        ratios.Sort();
        Console.WriteLine($"  proxied/direct warehouse query throughput: median {ratios[Rounds / 2]:0.000}, range {ratios[0]:0.000}-{ratios[^1]:0.000}");
        if (LoadGenerator.FirstError is { } error) Console.WriteLine($"First error seen: {error.Split('\n')[0]}");
        File.Delete(copy);
    }

    /// <summary>Adds customers (and a first order for every third one) up to <paramref name="customers"/> in all.</summary>
    private static async Task GrowCustomersAsync(string salesDb, int customers)
    {
        await using var connection = new NpgsqlConnection(salesDb);
        await connection.OpenAsync();
        await using var grow = new NpgsqlCommand($"""
            insert into customers
            select i, 'Customer ' || i, 'customer' || i || '@example.com', '+44 20 7946 ' || lpad((i % 10000)::text, 4, '0'),
                   (array['EMEA','NA','APAC'])[1 + i % 3], (array['smb','mid','enterprise'])[1 + i % 3]
            from generate_series((select max(customer_id) + 1 from customers), {customers}) i;
            insert into sales_data
            select 100000 + i, i, (array['EMEA','NA','APAC'])[1 + i % 3], 'widget', 99, timestamptz '2026-01-01' + (i || ' minutes')::interval
            from generate_series(301, {customers}, 3) i;
            analyze customers; analyze sales_data;
            """, connection) { CommandTimeout = 600 };
        await grow.ExecuteNonQueryAsync();
    }

    private static async Task<(long Rows, double Seconds)> ReadSourceAsync(string salesDb, string sql)
    {
        await using var connection = new NpgsqlConnection(salesDb);
        await connection.OpenAsync();
        var started = Stopwatch.GetTimestamp();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        await using var reader = await command.ExecuteReaderAsync();
        long rows = 0;
        var values = new object[reader.FieldCount];
        while (await reader.ReadAsync()) { reader.GetValues(values); rows++; }
        return (rows, Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private static async Task<string> PrepareAppAsync(HttpClient http, string baseUrl)
    {
        var owner = await TokenAsync(http, baseUrl, """{"sub":"bench@example.com","roles":["app-owner"]}""");
        await PostAsync(http, baseUrl, "/apps", """
            {"app_id":"bench-analytics","owner":"bench@example.com","scopes":["read:analytics"],"connectors":["bigquery:analytics"],
             "datasets":[{"name":"customers_sanitized","fields":["customer_id","email_hash","country"]}],
             "quotas":{"requests_per_day":100000000,"requests_per_second":100000,"rows_per_day":100000000000},
             "audience":{"people":["bench.user@example.com"]}}
            """, owner);
        var reviewer = await TokenAsync(http, baseUrl, """{"sub":"bench.reviewer@example.com","roles":["security-reviewer"]}""");
        await PostAsync(http, baseUrl, "/apps/bench-analytics/approvals", """{"decision":"approve","reason":"load test quotas"}""", reviewer);
        var user = await TokenAsync(http, baseUrl, """{"sub":"bench.user@example.com","region":"EMEA"}""");
        var token = (await PostAsync(http, baseUrl, "/apps/bench-analytics/tokens", """{"expires_in":3600}""", user))["access_token"]!.GetValue<string>();
        await Task.Delay(1000);   // let the host's app directory pick the app up
        return token;
    }

    private static Task<string> TokenAsync(HttpClient http, string baseUrl, string request) => LedgerHttp.Token(http, baseUrl, request);

    private static async Task<JsonNode> PostAsync(HttpClient http, string baseUrl, string path, string? json, string? token) =>
        JsonNode.Parse(await LedgerHttp.Post(http, baseUrl, path, json, token))!;
}
