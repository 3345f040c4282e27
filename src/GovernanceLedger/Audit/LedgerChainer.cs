using System.Security.Cryptography;
using System.Text;
using GovernanceLedger.Contracts.Audit;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;
using Npgsql;

namespace GovernanceLedger.Audit;

/// <summary>
/// Follows the ledger's global sequence and extends the hash chain (ledger.chain_links) over every
/// committed event, then signs a checkpoint every <see cref="CheckpointEvery"/> events or minute.
/// It also makes the events table and the chain append-only: UPDATE, DELETE and TRUNCATE raise.
/// </summary>
public sealed class LedgerChainer(LedgerDatabase ledger, IDocumentStore store, SigningKeys keys, TimeProvider clock, ILogger<LedgerChainer> logger)
    : BackgroundService
{
    public const int CheckpointEvery = 1000;
    public static readonly TimeSpan CheckpointInterval = TimeSpan.FromMinutes(1);
    /// <summary>A hole in the sequence younger than this may be a transaction still committing; older holes are rollbacks.</summary>
    public static readonly TimeSpan GapPatience = TimeSpan.FromSeconds(3);
    private const string S = LedgerSetup.Schema;

    private long _last;
    private byte[] _lastLink = HashChain.Genesis;
    private long _sinceCheckpoint;
    private DateTimeOffset _lastCheckpoint = DateTimeOffset.MinValue;
    private (long Sequence, DateTimeOffset SeenAt)? _gap;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public long LastChained => Volatile.Read(ref _last);

    public static string SetupSql => $"""
        create table if not exists {S}.chain_links (
            seq_id bigint primary key,
            content_hash bytea not null,
            link bytea not null,
            kind text not null,
            chained_at timestamptz not null default now());
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
        drop trigger if exists ledger_append_only on {S}.mt_events;
        create trigger ledger_append_only before update or delete on {S}.mt_events
            for each row execute function {S}.refuse_ledger_rewrite();
        drop trigger if exists ledger_no_truncate on {S}.mt_events;
        create trigger ledger_no_truncate before truncate on {S}.mt_events
            for each statement execute function {S}.refuse_ledger_rewrite();
        drop trigger if exists chain_append_only on {S}.chain_links;
        create trigger chain_append_only before update or delete on {S}.chain_links
            for each row execute function {S}.refuse_ledger_rewrite();
        drop trigger if exists chain_no_truncate on {S}.chain_links;
        create trigger chain_no_truncate before truncate on {S}.chain_links
            for each statement execute function {S}.refuse_ledger_rewrite();
        """;

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        var source = ledger.Source;
        var ready = false;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (!ready)
                {
                    // Marten creates the events table on first use; until then there is nothing to protect or chain.
                    await using var setup = source.CreateCommand(SetupSql);
                    await setup.ExecuteNonQueryAsync(stop);
                    ready = true;
                }
                // One chainer per ledger: the instance holding this session lock extends the chain.
                await using var lockConnection = await source.OpenConnectionAsync(stop);
                await using (var tryLock = new NpgsqlCommand("select pg_try_advisory_lock(7300113)", lockConnection))
                    if (await tryLock.ExecuteScalarAsync(stop) is not true)
                    {
                        await Task.Delay(2000, stop);
                        continue;
                    }
                await LoadHeadAsync(source, stop);
                while (!stop.IsCancellationRequested)
                {
                    var chained = await ChainAsync(source, stop);
                    // Short idle polls keep the audit stream's lag low; an idle poll is one indexed query.
                    if (chained == 0) await Task.Delay(50, stop);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (PostgresException e) when (!ready && e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                await Task.Delay(500, stop).ContinueWith(_ => { }, CancellationToken.None);
            }
            catch (Exception e)
            {
                logger.LogError(e, "Extending the hash chain failed; retrying");
                await Task.Delay(1000, stop).ContinueWith(_ => { }, CancellationToken.None);
            }
        }
    }

    private async Task LoadHeadAsync(NpgsqlDataSource source, CancellationToken ct)
    {
        _last = 0;
        _lastLink = HashChain.Genesis;
        await using var command = source.CreateCommand($"select seq_id, link from {S}.chain_links order by seq_id desc limit 1");
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (await reader.ReadAsync(ct))
        {
            _last = reader.GetInt64(0);
            _lastLink = reader.GetFieldValue<byte[]>(1);
        }
    }

    /// <summary>Chains what is committed after the head; returns how many events it chained.</summary>
    public async Task<int> ChainAsync(NpgsqlDataSource source, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var batch = new List<ChainedEvent>();
            await using (var command = source.CreateCommand(
                $"select seq_id, stream_id, version, type, timestamp, data::text from {S}.mt_events where seq_id > $1 order by seq_id limit 5000"))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = _last });
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                    batch.Add(new ChainedEvent(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3),
                        reader.GetFieldValue<DateTimeOffset>(4), reader.GetString(5)));
            }

            // Stop at a hole until it is old enough to be a rollback rather than a commit in flight.
            var expected = _last + 1;
            var take = 0;
            foreach (var e in batch)
            {
                if (e.Sequence != expected)
                {
                    // Commit timing is wall-clock business, whatever the ledger's own clock says.
                    var now = TimeProvider.System.GetUtcNow();
                    if (_gap is not { } gap || gap.Sequence != expected) _gap = (expected, now);
                    if (now - _gap.Value.SeenAt < GapPatience) break;
                    _gap = null;
                }
                expected = e.Sequence + 1;
                take++;
            }
            if (take == 0) return 0;

            var chain = batch.Take(take).ToList();
            var seqs = new long[chain.Count];
            var contents = new byte[chain.Count][];
            var links = new byte[chain.Count][];
            var kinds = new string[chain.Count];
            var link = _lastLink;
            for (var i = 0; i < chain.Count; i++)
            {
                seqs[i] = chain[i].Sequence;
                contents[i] = HashChain.ContentHash(chain[i]);
                links[i] = link = HashChain.Link(link, contents[i]);
                kinds[i] = chain[i].Type == "chain_checkpointed" ? "checkpoint" : "event";
            }
            await using (var insert = source.CreateCommand(
                $"insert into {S}.chain_links (seq_id, content_hash, link, kind) select * from unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[])"))
            {
                insert.Parameters.Add(new NpgsqlParameter { Value = seqs });
                insert.Parameters.Add(new NpgsqlParameter { Value = contents });
                insert.Parameters.Add(new NpgsqlParameter { Value = links });
                insert.Parameters.Add(new NpgsqlParameter { Value = kinds });
                await insert.ExecuteNonQueryAsync(ct);
            }
            _last = seqs[^1];
            _lastLink = link;
            _sinceCheckpoint += chain.Count(c => c.Type != "chain_checkpointed");

            var now2 = clock.GetUtcNow();
            if (_sinceCheckpoint >= CheckpointEvery || (_sinceCheckpoint > 0 && now2 - _lastCheckpoint >= CheckpointInterval))
                await CheckpointAsync(ct);
            return chain.Count;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Signs the current head and appends it to the ledger; the checkpoint is itself chained next.</summary>
    public async Task CheckpointAsync(CancellationToken ct)
    {
        var key = await keys.ActiveAsync(ct);
        var linkHex = Convert.ToHexStringLower(_lastLink);
        var signature = key.Key.Rsa!.SignData(Encoding.UTF8.GetBytes(HashChain.CheckpointStatement(_last, linkHex)),
            HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        await using var session = store.LightweightSession();
        session.Events.Append("ledger-checkpoints", new ChainCheckpointed(_last, linkHex, key.KeyId,
            Convert.ToBase64String(signature), _sinceCheckpoint, clock.GetUtcNow()));
        await session.SaveChangesAsync(ct);
        _sinceCheckpoint = 0;
        _lastCheckpoint = clock.GetUtcNow();
    }
}
