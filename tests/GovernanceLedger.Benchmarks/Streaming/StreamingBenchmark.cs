using System.Diagnostics;
using static GovernanceLedger.Benchmarks.LedgerHttp;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using GovernanceLedger.Benchmarks.DataPlane;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Streaming.Kafka;
using JasperFx.Events;
using Marten;
using Npgsql;

namespace GovernanceLedger.Benchmarks.Streaming;

/// <summary>
/// Streaming on this machine, one run: the ledger host as its own process with Kafka embedded (librdkafka's
/// mock cluster), then (1) CDC rows per second from source commit to the curated topic, (2) Avro through
/// the registry against raw byte[] produce, side by side, and (3) audit-stream lag at a steady 5,000 events/s.
/// </summary>
public static partial class StreamingBenchmark
{
    [GeneratedRegex(@"EMBEDDED on librdkafka's in-memory mock cluster at (?<bootstrap>[0-9.:]+)\.")]
    private static partial Regex EmbeddedBootstrap();

    public static async Task RunAsync(int cdcRows, int produceMessages, int lagSeconds)
    {
        var server = Environment.GetEnvironmentVariable("GOVLEDGER_PG")
            ?? throw new InvalidOperationException("GOVLEDGER_PG is not set: run ./scripts/bench.sh streaming");
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var ledgerDb = new NpgsqlConnectionStringBuilder(server) { Database = $"bench_stream_{suffix}" }.ConnectionString;
        var salesDb = new NpgsqlConnectionStringBuilder(server) { Database = $"bench_sales_{suffix}" }.ConnectionString;
        await GovernanceLedger.Demo.SalesDemoDatabase.EnsureAsync(salesDb);
        var port = DataPlaneBenchmark.FreePort();
        var baseUrl = $"http://127.0.0.1:{port}";
        var bootstrap = new TaskCompletionSource<string>();
        using var host = Start(port, ledgerDb, salesDb, baseUrl, bootstrap);
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        try
        {
            await DataPlaneBenchmark.WaitHealthy(http, baseUrl, host);
            var kafka = await bootstrap.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Console.WriteLine($"Ledger host on {baseUrl}, Kafka embedded at {kafka}; 2 cores shared by this process, the host, librdkafka and PostgreSQL (fsync on)");
            var admin = await Token(http, baseUrl, """{"sub":"bench.admin@example.com","roles":["platform-admin"]}""");
            await Post(http, baseUrl, "/topics/requests", """{"topic":"sales.events.v1","partitions":3,"retention_days":7,"purpose":"benchmark"}""", admin);
            await Post(http, baseUrl, "/cdc/connectors", """{"connector_id":"bench-orders","source":"SalesDb","dataset":"orders","target_topic":"sales.events.v1","tables":[{"table":"orders","key":["order_id"],"columns":["order_id","customer_email","region","product","amount","status"]}]}""", admin);

            await CdcAsync(kafka, salesDb, cdcRows);
            await ProduceAsync(kafka, baseUrl + "/registry", produceMessages);
            await AuditLagAsync(kafka, ledgerDb, lagSeconds);
        }
        finally
        {
            if (!host.HasExited) host.Kill(entireProcessTree: true);
        }
    }

    private static async Task CdcAsync(string kafka, string salesDb, int rows)
    {
        using var consumer = Consumer(kafka, "sales.events.v1");
        // The connector is running once a first change comes through.
        await Sql(salesDb, "update orders set status = 'warm' where order_id = 1");
        while (consumer.Consume(TimeSpan.FromSeconds(30)) is null) { }

        var start = Stopwatch.StartNew();
        const int perTransaction = 1000;
        for (var first = 1_000_000; first < 1_000_000 + rows; first += perTransaction)
            await Sql(salesDb, $"""
                insert into orders (order_id, customer_email, region, product, amount)
                select i, 'bench' || i || '@example.com', 'EMEA', 'widget', 10 from generate_series({first}, {first + perTransaction - 1}) i
                """);
        var committed = start.Elapsed;
        var received = 0;
        while (received < rows && start.Elapsed < TimeSpan.FromMinutes(5))
            // Only the measured inserts count: the connector's snapshot of the demo orders comes first.
            if (consumer.Consume(TimeSpan.FromSeconds(5)) is { IsPartitionEOF: false } m
                && m.Message.Value["after"] is GenericRecord after && (long)after["order_id"] >= 1_000_000) received++;
        var seconds = start.Elapsed.TotalSeconds;
        Console.WriteLine();
        Console.WriteLine($"CDC end to end (commit in salesdb -> Avro on sales.events.v1, PII masked, {perTransaction} rows per transaction):");
        Console.WriteLine($"  {received:N0} of {rows:N0} rows in {seconds:0.00} s (source commits took {committed.TotalSeconds:0.00} s): {received / seconds:N0} rows/s");
    }

    private static async Task ProduceAsync(string kafka, string registryUrl, int messages)
    {
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = registryUrl });
        var serializer = new AvroSerializer<GenericRecord>(registry, new AvroSerializerConfig { AutoRegisterSchemas = false });
        var latest = await registry.GetLatestSchemaAsync("sales.events.v1-value");
        var envelope = (Avro.RecordSchema)Avro.Schema.Parse(latest.SchemaString);
        GenericRecord Record(long i)
        {
            var order = new GenericRecord((Avro.RecordSchema)((Avro.UnionSchema)envelope["after"].Schema).Schemas[1]);
            order.Add("order_id", i); order.Add("customer_email", "b***@example.com"); order.Add("region", "EMEA");
            order.Add("product", "widget"); order.Add("amount", 10.5); order.Add("status", "placed");
            var source = new GenericRecord((Avro.RecordSchema)envelope["source"].Schema);
            source.Add("connector", "bench"); source.Add("db", "salesdb"); source.Add("schema", "public"); source.Add("table", "orders");
            source.Add("lsn", "0/16B3748"); source.Add("tx_id", 42L); source.Add("ts_ms", 1_790_000_000_000L);
            var record = new GenericRecord(envelope);
            record.Add("before", null); record.Add("after", order); record.Add("op", "c"); record.Add("source", source); record.Add("ts_ms", 1_790_000_000_000L);
            return record;
        }
        var context = new SerializationContext(MessageComponentType.Value, "sales.events.v1");
        var sample = await serializer.SerializeAsync(Record(1), context);
        // A cluster of its own, so the comparison does not share brokers with the host's CDC and audit traffic.
        using var cluster = new MockKafkaCluster();
        cluster.CreateTopic("sales.events.v1", 3);
        var settings = new KafkaSettings { BootstrapServers = cluster.BootstrapServers, SchemaRegistryUrl = registryUrl };
        using var topics = new AvroTopics(settings);

        async Task<double> Measure(string topic, Func<long, Task<byte[]>> value)
        {
            using var producer = new ProducerBuilder<string, byte[]>(settings.Producer("bench")).Build();
            var watch = Stopwatch.StartNew();
            for (long i = 0; i < messages; i++)
            {
                var bytes = await value(i);
                while (true)
                {
                    try { producer.Produce(topic, new Message<string, byte[]> { Key = $"orders:{i}", Value = bytes }); break; }
                    catch (ProduceException<string, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull) { producer.Poll(TimeSpan.FromMilliseconds(5)); }
                }
            }
            producer.Flush(TimeSpan.FromMinutes(2));
            return messages / watch.Elapsed.TotalSeconds;
        }

        // Warm both paths, then alternate them for seven rounds on the same cluster, so background work on
        // the two shared cores falls on both alike; the medians are compared.
        await Measure("sales.events.v1", _ => Task.FromResult(sample));
        await Measure("sales.events.v1", i => topics.SerializeAsync("sales.events.v1", Record(i)).AsTask());
        var raws = new List<double>();
        var avros = new List<double>();
        for (var round = 0; round < 7; round++)
        {
            raws.Add(await Measure("sales.events.v1", _ => Task.FromResult(sample)));
            avros.Add(await Measure("sales.events.v1", i => topics.SerializeAsync("sales.events.v1", Record(i)).AsTask()));
        }
        var confluent = await Measure("sales.events.v1", i => serializer.SerializeAsync(Record(i), context));
        double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
        var raw = Median(raws);
        var avro = Median(avros);
        Console.WriteLine();
        Console.WriteLine($"Produce, {messages:N0} messages of {sample.Length} bytes per round, idempotent producer, record built per message, 7 alternating rounds:");
        Console.WriteLine($"  raw byte[]                                          median {raw,10:N0} msg/s   ratio 1.000   rounds {string.Join(" ", raws.Select(r => r.ToString("N0")))}");
        Console.WriteLine($"  Avro through the registry, the ledger's writer      median {avro,10:N0} msg/s   ratio {avro / raw:0.000} (target >= 0.5)   rounds {string.Join(" ", avros.Select(r => r.ToString("N0")))}");
        Console.WriteLine($"  Avro through the registry, Confluent's serializer          {confluent,10:N0} msg/s   ratio {confluent / raw:0.000} (one round, for comparison)");
    }

    private static async Task AuditLagAsync(string kafka, string ledgerDb, int seconds)
    {
        await using var store = LedgerHttp.AppendingStore(ledgerDb);
        using var consumer = Consumer(kafka, "governance.audit.v1", latest: true);
        const int rate = 5000;
        const int batch = 100;
        var lags = new List<double>();
        var stop = DateTime.UtcNow.AddSeconds(seconds + 15);
        var consuming = Task.Run(() =>
        {
            var warmUntil = DateTime.UtcNow.AddSeconds(3);
            while (DateTime.UtcNow < stop)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (result is null || result.IsPartitionEOF) continue;
                if ((string)result.Message.Value["event_type"] != "access_recorded" || DateTime.UtcNow < warmUntil) continue;
                var appended = (DateTime)result.Message.Value["occurred_at"];
                lock (lags) lags.Add((DateTime.UtcNow - appended).TotalMilliseconds);
            }
        });
        var appended = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            // Paced: each batch goes out when the schedule says, so the offered load stays at the rate.
            var due = TimeSpan.FromSeconds((double)appended / rate);
            if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed);
            await using var session = store.LightweightSession();
            var now = DateTimeOffset.UtcNow;
            for (var i = 0; i < batch; i++, appended++)
                session.Events.Append($"access:lag-app-{appended % 20}:{now:yyyy-MM-dd}:0", new AccessRecorded($"lag{appended}", $"lag-app-{appended % 20}", null, "user", "jti",
                    "data", "data/customers", "POST", "/data/customers/query", 200, 2, 100, 500, "allow", "served", "runtime-scopes-required", 1, null, now));
            await session.SaveChangesAsync();
        }
        var offered = appended / clock.Elapsed.TotalSeconds;
        while (DateTime.UtcNow < stop && lags.Count < appended * 0.95) await Task.Delay(200);
        stop = DateTime.UtcNow;
        await consuming;
        lags.Sort();
        double Pct(double p) => lags.Count == 0 ? double.NaN : lags[Math.Min(lags.Count - 1, (int)(p * lags.Count))];
        Console.WriteLine();
        Console.WriteLine($"Audit stream lag (ledger append -> Avro on governance.audit.v1 at the consumer), {seconds} s at {offered:N0} events/s offered:");
        Console.WriteLine($"  {lags.Count:N0} events measured after a 3 s warm-up: p50 {Pct(0.50):N0} ms  p99 {Pct(0.99):N0} ms  max {(lags.Count > 0 ? lags[^1] : double.NaN):N0} ms");
    }

    private static IConsumer<string, GenericRecord> Consumer(string kafka, string topic, bool latest = false)
    {
        var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = _registryUrl });
        var consumer = new ConsumerBuilder<string, GenericRecord>(new ConsumerConfig
            {
                BootstrapServers = kafka, GroupId = $"bench-{Guid.NewGuid():N}", EnableAutoCommit = false,
                AutoOffsetReset = latest ? AutoOffsetReset.Latest : AutoOffsetReset.Earliest, FetchWaitMaxMs = 10
            })
            .SetValueDeserializer(new Confluent.Kafka.SyncOverAsync.SyncOverAsyncDeserializer<GenericRecord>(new AvroDeserializer<GenericRecord>(registry)))
            .Build();
        consumer.Subscribe(topic);
        return consumer;
    }

    private static string _registryUrl = "";

    private static Process Start(int port, string ledgerDb, string salesDb, string baseUrl, TaskCompletionSource<string> bootstrap)
    {
        _registryUrl = baseUrl + "/registry";
        var dll = Path.Combine(AppContext.BaseDirectory, "GovernanceLedger.dll");
        var info = new ProcessStartInfo("dotnet", [dll, "--urls", baseUrl])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        info.Environment["ConnectionStrings__Ledger"] = ledgerDb;
        info.Environment["ConnectionStrings__SalesDb"] = salesDb;
        info.Environment["Gateway__DemoUpstreamUrl"] = "";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["Kafka__Mode"] = "embedded";
        info.Environment["Kafka__SchemaRegistryUrl"] = _registryUrl;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not { } line) return;
            if (EmbeddedBootstrap().Match(line) is { Success: true } m) bootstrap.TrySetResult(m.Groups["bootstrap"].Value);
            else if (line.Contains("fail")) Console.Error.WriteLine(line);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task Sql(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
