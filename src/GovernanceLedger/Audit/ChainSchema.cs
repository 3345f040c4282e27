using GovernanceLedger.Infrastructure;
using Weasel.Core;
using Weasel.Postgresql;
using Weasel.Postgresql.Functions;
using Weasel.Postgresql.Tables;
using Weasel.Postgresql.Triggers;

namespace GovernanceLedger.Audit;

/// <summary>
/// The chain's tables, and the triggers that make them and the events table append-only (UPDATE,
/// DELETE and TRUNCATE raise). chain_links has one row per sequence number (kind event, checkpoint or
/// hole); merkle_nodes keeps the hash of every complete Merkle subtree of 2^8 leaves or more, so a
/// proof at a million events needs a dozen stored nodes and at most two blocks of leaves.
/// Declared as schema objects: Marten creates or migrates them with its own tables at start-up.
/// </summary>
public static class ChainSchema
{
    /// <summary>
    /// A feature of its own rather than Marten's extended schema objects, which are created before the events
    /// table: the triggers and indexes here are on that table.
    /// </summary>
    public sealed class Feature(Marten.StoreOptions options) : Weasel.Core.Migrations.FeatureSchemaBase("LedgerChain", options.Advanced.Migrator)
    {
        public override Type StorageType => typeof(Feature);
        protected override IEnumerable<ISchemaObject> schemaObjects() => Objects();
    }

    private const string S = LedgerSetup.Schema;
    public const int StoredLevel = 8;

    public static IEnumerable<ISchemaObject> Objects()
    {
        var links = new Table(LedgerSetup.ObjectName(S, "chain_links"));
        links.AddColumn<long>("seq_id").AsPrimaryKey();
        links.AddColumn("content_hash", "bytea").NotNull();
        links.AddColumn("link", "bytea").NotNull();
        links.AddColumn("kind", "text").NotNull();
        links.AddColumn("chained_at", "timestamptz").NotNull().DefaultValueByExpression("now()");
        // How content_hash was computed (HashChain.CurrentFormat for new links); links chained before it are format 1.
        links.AddColumn("format", "smallint").NotNull().DefaultValueByExpression("1");
        yield return links;

        var nodes = new Table(LedgerSetup.ObjectName(S, "merkle_nodes"));
        nodes.AddColumn("level", "smallint").AsPrimaryKey();
        nodes.AddColumn<long>("idx").AsPrimaryKey();
        nodes.AddColumn("hash", "bytea").NotNull();
        yield return nodes;

        // Verify and the timelines read the ledger by stream prefix in sequence order.
        yield return new IndexOnLedgerTable(S, "ix_mt_events_stream_seq", "mt_events", "(stream_id text_pattern_ops, seq_id)");
        yield return new IndexOnLedgerTable(S, "ix_mt_streams_id_prefix", "mt_streams", "(id text_pattern_ops)");
        // Events of several KB (a batch's accesses in one event) are compressed as they are appended: LZ4, not pglz.
        yield return new Lz4OnLedgerColumn(S, "mt_events", "data");

        yield return Function.ForSql($"""
            create or replace function {S}.refuse_ledger_rewrite() returns trigger language plpgsql as $$
            begin
                raise exception 'the ledger is append-only: % on %.% is refused', tg_op, tg_table_schema, tg_table_name
                    using errcode = 'P0001';
            end $$;
            """);
        foreach (var (table, name) in new[] { ("mt_events", "ledger"), ("chain_links", "chain"), ("merkle_nodes", "merkle") })
        {
            yield return new Trigger(LedgerSetup.ObjectName(S, $"{name}_append_only"), LedgerSetup.ObjectName(S, table), $"{S}.refuse_ledger_rewrite()")
            {
                Timing = TriggerTiming.Before, Events = TriggerEvents.Update | TriggerEvents.Delete, ForEachRow = true
            };
            yield return new Trigger(LedgerSetup.ObjectName(S, $"{name}_no_truncate"), LedgerSetup.ObjectName(S, table), $"{S}.refuse_ledger_rewrite()")
            {
                Timing = TriggerTiming.Before, Events = TriggerEvents.Truncate, ForEachRow = false
            };
        }
    }

    /// <summary>The indexes above, on tables Marten owns: Marten's own migrations are told to leave them be.</summary>
    public static IEnumerable<string> IndexesOnMartenTables => ["ix_mt_events_stream_seq", "ix_mt_streams_id_prefix"];
}
