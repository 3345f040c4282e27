using Weasel.Core;
using Weasel.Postgresql;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// An index the ledger adds to a table Marten owns (its events and streams tables), declared as a schema object
/// of its own: Weasel's indexes belong to a table definition, and Marten's are Marten's.
/// </summary>
public sealed class IndexOnLedgerTable(string schema, string name, string table, string columns)
    : SchemaObjectBase(LedgerSetup.ObjectName(schema, name))
{
    public override void WriteCreateStatement(Migrator migrator, TextWriter writer) =>
        writer.WriteLine($"create index if not exists {name} on {schema}.{table} {columns};");

    public override void WriteDropStatement(Migrator rules, TextWriter writer) =>
        writer.WriteLine($"drop index if exists {schema}.{name};");

    public override void ConfigureQueryCommand(DbCommandBuilder builder)
    {
        builder.Append("select count(*) from pg_indexes where schemaname = ");
        builder.AppendParameter(schema);
        builder.Append(" and indexname = ");
        builder.AppendParameter(name);
        builder.Append(";");
    }
}
