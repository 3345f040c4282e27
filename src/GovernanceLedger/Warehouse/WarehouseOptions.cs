using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace GovernanceLedger.Warehouse;

/// <summary>
/// The analytics warehouse, bound from the "Warehouse" configuration section: where the embedded warehouse file lives,
/// which catalog connector it stands in for, the curated exports that fill it, and where lineage goes.
/// </summary>
public sealed class WarehouseOptions
{
    /// <summary>The source name catalog datasets use to say the warehouse serves them (their View is the warehouse table).</summary>
    public const string SourceName = "Warehouse";

    /// <summary>The warehouse file. Empty: a file per ledger database under the temporary directory (Development) or ./data.</summary>
    public string Path { get; set; } = "";
    /// <summary>The catalog connector the warehouse is (bigquery:analytics in the demo catalog).</summary>
    public string Connector { get; init; } = "bigquery:analytics";
    public List<ExportDefinition> Exports { get; init; } = [];
    /// <summary>Whether exports with a schedule run by themselves (off: on demand only).</summary>
    public bool Scheduled { get; init; } = true;
    /// <summary>How long a warehouse query may run.</summary>
    public int QueryTimeoutSeconds { get; init; } = 10;
    /// <summary>
    /// The most an answer read from the warehouse may hold, counted over its values as they are read: a template whose
    /// parameter makes each row larger (repeat(x, $n)) is stopped at this, however few rows it has.
    /// </summary>
    public long MaxAnswerBytes { get; init; } = 8 * 1024 * 1024;
    /// <summary>
    /// The most memory the embedded warehouse holds, in megabytes (DuckDB's memory_limit). DuckDB's own default is 80% of
    /// the machine's memory, which a host that also serves the data plane cannot give to one query. What a query needs beyond
    /// it is spilled to disk, up to <see cref="TempDirectoryMegabytes"/>; past that the query is refused (422 memory-limit).
    /// </summary>
    public int MemoryLimitMegabytes { get; init; } = 1024;
    /// <summary>The most disk the warehouse spills to while queries and loads run, in megabytes (DuckDB's max_temp_directory_size).</summary>
    public int TempDirectoryMegabytes { get; init; } = 4096;
    /// <summary>
    /// The threads one warehouse query may run on (DuckDB's threads; its default is every core). Half the machine by
    /// default: the gateway and the data proxy share the host with it.
    /// </summary>
    public int Threads { get; init; } = Math.Max(1, Environment.ProcessorCount / 2);
    /// <summary>How long an export's read of its source may run.</summary>
    public int ExportTimeoutSeconds { get; init; } = 300;
    public OpenLineageOptions OpenLineage { get; init; } = new();

    public ExportDefinition? Export(string name) => Exports.FirstOrDefault(e => e.Name == name);
}

/// <summary>
/// A curated export: the sanitizing SELECT run at <see cref="Source"/> (a connection string name), whose answer replaces the
/// warehouse table <see cref="Target"/>. <see cref="Dataset"/> is the catalog dataset it derives from; its PII tags, and
/// those of every dataset at the same source, are what the definition must hash. <see cref="Every"/> schedules it
/// (a TimeSpan such as 1.00:00:00); without it the export runs on demand only.
/// </summary>
public sealed class ExportDefinition
{
    public string Name { get; init; } = "";
    public string Source { get; init; } = "";
    public string Dataset { get; init; } = "";
    public string Target { get; init; } = "";
    public string Sql { get; init; } = "";
    public TimeSpan? Every { get; init; }

    /// <summary>The definition's fingerprint: a change to any of its parts is a different definition.</summary>
    public string Sha256() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
        JsonSerializer.Serialize(new { Name, Source, Dataset, Target, Sql = Sql.Trim(), Every = Every?.ToString("c") }))));
}

/// <summary>Where OpenLineage run events are posted (Marquez: http://host:5000/api/v1/lineage; DataHub: its /openapi/openlineage/api/v1/lineage).</summary>
public sealed class OpenLineageOptions
{
    /// <summary>Empty: no events are posted; GET /lineage still answers.</summary>
    public string Url { get; init; } = "";
    /// <summary>The namespace the ledger's jobs (exports, CDC connectors, apps) are named in.</summary>
    public string Namespace { get; init; } = "governance-ledger";
    /// <summary>An optional bearer token for the endpoint (DataHub asks for one).</summary>
    public string ApiKey { get; init; } = "";
}
