using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Audit;

/// <summary>
/// The chain's tables, and the triggers that make them and the events table append-only (UPDATE,
/// DELETE and TRUNCATE raise). chain_links has one row per sequence number (kind event, checkpoint or
/// hole); merkle_nodes keeps the hash of every complete Merkle subtree of 2^8 leaves or more, so a
/// proof at a million events needs a dozen stored nodes and at most two blocks of leaves.
/// </summary>
public static class ChainSchema
{
    private const string S = LedgerSetup.Schema;
    public const int StoredLevel = 8;

    public static string SetupSql => $"""
        create table if not exists {S}.chain_links (
            seq_id bigint primary key,
            content_hash bytea not null,
            link bytea not null,
            kind text not null,
            chained_at timestamptz not null default now());
        create table if not exists {S}.merkle_nodes (
            level smallint not null,
            idx bigint not null,
            hash bytea not null,
            primary key (level, idx));
        drop index if exists {S}.ix_mt_events_type_timestamp;
        create index if not exists ix_mt_events_type_seq on {S}.mt_events (type, seq_id);
        drop index if exists {S}.ix_mt_events_stream_prefix;
        create index if not exists ix_mt_events_stream_seq on {S}.mt_events (stream_id text_pattern_ops, seq_id);
        create index if not exists ix_mt_streams_id_prefix on {S}.mt_streams (id text_pattern_ops);
        create or replace function {S}.refuse_ledger_rewrite() returns trigger language plpgsql as $$
        begin
            raise exception 'the ledger is append-only: % on %.% is refused', tg_op, tg_table_schema, tg_table_name
                using errcode = 'P0001';
        end $$;
        {AppendOnly("mt_events", "ledger")}
        {AppendOnly("chain_links", "chain")}
        {AppendOnly("merkle_nodes", "merkle")}
        """;

    private static string AppendOnly(string table, string name) => $"""
        drop trigger if exists {name}_append_only on {S}.{table};
        create trigger {name}_append_only before update or delete on {S}.{table}
            for each row execute function {S}.refuse_ledger_rewrite();
        drop trigger if exists {name}_no_truncate on {S}.{table};
        create trigger {name}_no_truncate before truncate on {S}.{table}
            for each statement execute function {S}.refuse_ledger_rewrite();
        """;
}
