using GovernanceLedger.Policies;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GovernanceLedger.Warehouse;

/// <summary>A dataset as lineage names it: OpenLineage's namespace (where it lives) and name (what it is there).</summary>
public sealed record LineageName(string Namespace, string Name);

/// <summary>
/// Names datasets the way OpenLineage's naming convention does, so a catalog that also hears from other tools joins
/// the same nodes: a PostgreSQL table is postgres://host:port with database.schema.table, a Kafka topic is
/// kafka://bootstrap with the topic, the embedded warehouse is duckdb://its-file with the table. Datasets of connectors
/// without a database (CRM, forms) are named by connector.
/// </summary>
public sealed class LineageNames(IConfiguration configuration, IWarehouse warehouse, IOptionsMonitor<DataCatalog> catalog,
    Streaming.Kafka.KafkaSettings kafka)
{
    public string WarehouseNamespace => $"{warehouse.Kind}://{warehouse.Location}";

    /// <summary>A table at a source (a connection string name); unqualified tables are in public.</summary>
    public LineageName Table(string source, string table)
    {
        var builder = new NpgsqlConnectionStringBuilder(configuration.GetConnectionString(source) ?? "");
        var qualified = table.Contains('.') ? table : $"public.{table}";
        return new LineageName($"postgres://{builder.Host ?? "localhost"}:{(builder.Port == 0 ? 5432 : builder.Port)}", $"{builder.Database ?? source}.{qualified}");
    }

    public LineageName Topic(string topic) =>
        new($"kafka://{(string.IsNullOrEmpty(kafka.BootstrapServers) ? "embedded" : kafka.BootstrapServers.Split(',')[0])}", topic);

    public LineageName WarehouseTable(string table) => new(WarehouseNamespace, table);

    /// <summary>A catalog dataset where apps read it: its curated view, its warehouse table, or its connector.</summary>
    public LineageName Dataset(DatasetEntry dataset) =>
        WarehouseReads.Serves(dataset) ? WarehouseTable(WarehouseReads.TableOf(dataset))
        : dataset.ServedByProxy ? Table(dataset.Source, dataset.View)
        : new LineageName(dataset.Connector, dataset.Name);

    public DatasetEntry? Find(string name) => catalog.CurrentValue.DatasetList.FirstOrDefault(d => d.Name == name);
}
