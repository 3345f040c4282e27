using Weasel.Core;
using Weasel.Postgresql;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// LZ4 instead of PostgreSQL's default pglz for the large values of a column of a table Marten owns (its events'
/// JSON). Values over about 2 KB are compressed as they are written: a data-plane batch's accesses are one event of
/// several KB, and compressing it with pglz was a tenth of the appending backend's CPU in a profile; LZ4 compresses and
/// decompresses (for the chain, verify and timelines) several times faster at a similar ratio. It applies to values
/// written from then on; older ones stay as they are and read as before. A server built without LZ4 keeps its default.
/// </summary>
public sealed class Lz4OnLedgerColumn(string schema, string table, string column)
    : SchemaObjectBase(LedgerSetup.ObjectName(schema, $"{table}_{column}_lz4"))
{
    public override void WriteCreateStatement(Migrator migrator, TextWriter writer) =>
        writer.WriteLine($"alter table {schema}.{table} alter column {column} set compression lz4;");

    public override void WriteDropStatement(Migrator rules, TextWriter writer) =>
        writer.WriteLine($"alter table {schema}.{table} alter column {column} set compression default;");

    /// <summary>Nothing to do (a count above zero) when the column already uses LZ4, or the server has no LZ4 to offer.</summary>
    public override void ConfigureQueryCommand(DbCommandBuilder builder)
    {
        builder.Append("select (select count(*) from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = ");
        builder.AppendParameter(schema);
        builder.Append(" and c.relname = ");
        builder.AppendParameter(table);
        builder.Append(" and a.attname = ");
        builder.AppendParameter(column);
        builder.Append(" and a.attcompression = 'l') + (select count(*) from (select 1) x where not exists (select 1 from pg_settings where name = 'default_toast_compression' and 'lz4' = any(enumvals)));");
    }
}
