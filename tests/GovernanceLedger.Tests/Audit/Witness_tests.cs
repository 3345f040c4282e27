using System.Text.Json;
using GovernanceLedger.Audit.Checkpoints;
using GovernanceLedger.Contracts.Audit;
using GovernanceLedger.Security.KeyCustody;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.IdentityModel.Tokens;
using static GovernanceLedger.Tests.Audit.Tampering;

namespace GovernanceLedger.Tests.Audit;

/// <summary>
/// The attacks a database administrator can run, each on a ledger of its own: verify names them
/// against the witness outside the database, at the right sequence, even after the attacker
/// rewrote the chain consistently, searched every table for a signing key, or restarted the host.
/// </summary>
public sealed class Witness_tests
{
    [Fact]
    public async Task A_consistent_rewrite_with_re_signed_checkpoints_is_named_at_the_edited_event()
    {
        await using var ledger = await IsolatedLedger.StartAsync();
        var seqs = await ledger.ChainedApp("rewrite");
        await ledger.CheckpointNow();
        await ledger.ChainedApp("later");
        await ledger.CheckpointNow();
        var target = seqs[1];

        // The attacker looks for a key in every table: there is none (only public JWKs in the key events).
        var needles = await PrivateKeyMaterial(ledger.Host.Services.GetRequiredService<IKeyStore>());
        await using (var connection = await Superuser(ledger.ConnectionString))
            foreach (var (table, row) in await EveryRow(connection))
                needles.Where(row.Contains).ShouldBeEmpty($"{table} holds private key material");

        // So they edit an event, rewrite the chain after it, and re-sign every later checkpoint with a key of their own under the real kid.
        var attacker = new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048));
        await As(ledger.ConnectionString, async c =>
        {
            await Exec(c, "update ledger.mt_events set data = jsonb_set(data, '{Owner}', '\"mallory@example.com\"') where seq_id = $1", target);
            await RewriteChainFrom(c, target);
            var checkpoints = new List<(long Seq, ChainCheckpointed Checkpoint)>();
            await using (var command = new Npgsql.NpgsqlCommand(
                "select seq_id, data::text from ledger.mt_events where type = 'chain_checkpointed' and (data->>'UpToSequence')::bigint >= $1 order by seq_id", c))
            {
                command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = target });
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync()) checkpoints.Add((reader.GetInt64(0), JsonSerializer.Deserialize<ChainCheckpointed>(reader.GetString(1))!));
            }
            foreach (var (seq, checkpoint) in checkpoints)
            {
                var link = Convert.ToHexStringLower(await Scalar<byte[]>(c, "select link from ledger.chain_links where seq_id = $1", checkpoint.UpToSequence));
                var statement = CheckpointJws.Read(checkpoint.Jws!)!.Value.Statement with { Link = link };
                var forged = checkpoint with { LinkHash = link, Jws = CheckpointJws.Sign(statement, checkpoint.KeyId, attacker) };
                await Exec(c, "update ledger.mt_events set data = $2::jsonb where seq_id = $1", seq, JsonSerializer.Serialize(forged));
                await RewriteChainFrom(c, seq);
            }
        });

        var report = await ledger.Verify();
        report.Intact.ShouldBeFalse();
        report.FirstBroken!.Sequence.ShouldBe(target, report.Describe());
        report.FirstBroken.Reason.ShouldBe("edited");
        report.Problems.ShouldContain(p => p.Reason == "checkpoint-signature");

        var (exitCode, output) = await ledger.VerifyOffline();
        exitCode.ShouldBe(1, output);
        output.ShouldContain($"BROKEN at {target}: edited");
    }

    [Fact]
    public async Task A_truncated_tail_is_named_at_its_first_missing_sequence_also_after_the_chainer_and_the_host_restart()
    {
        await using var ledger = await IsolatedLedger.StartAsync();
        await ledger.ChainedApp("tail");
        await ledger.ChainedApp("tail");
        var treeSize = await ledger.CheckpointNow();
        // The last 8 sequence numbers, the last checkpoint among them, disappear with their links; the sequence is reset.
        var head = 0L;
        await LedgerFixture.EventuallyAsync(async () =>
        {
            await using var c = await Superuser(ledger.ConnectionString);
            head = await Scalar<long>(c, "select max(seq_id) from ledger.mt_events");
            return head > treeSize && ledger.Chainer().LastChained >= head;
        }, TimeSpan.FromSeconds(10));
        var cut = head - 7;
        cut.ShouldBeLessThanOrEqualTo(treeSize);
        await As(ledger.ConnectionString, async c =>
        {
            await Exec(c, "delete from ledger.mt_events where seq_id >= $1", cut);
            await Exec(c, "delete from ledger.chain_links where seq_id >= $1", cut);
            await Exec(c, "select setval('ledger.mt_events_sequence', $1)", cut - 1);
        });

        async Task NamedTruncated(string when)
        {
            var report = await ledger.Verify();
            report.FirstBroken!.Sequence.ShouldBe(cut, $"{when}: {report.Describe()}");
            report.FirstBroken.Reason.ShouldBe("truncated", when);
            var (exitCode, output) = await ledger.VerifyOffline();
            exitCode.ShouldBe(1, output);
            output.ShouldContain($"BROKEN at {cut}: truncated", customMessage: when);
        }
        await NamedTruncated("live");

        // The chainer reloads its head from the database: it refuses to chain on top of a cut below its witness.
        var chainer = ledger.Chainer();
        await chainer.StopAsync(CancellationToken.None);
        await chainer.StartAsync(CancellationToken.None);
        await LedgerFixture.EventuallyAsync(() => Task.FromResult(chainer.Halted is not null), TimeSpan.FromSeconds(20));
        chainer.Halted!.ShouldContain($"sequences {cut}..{treeSize} were deleted");
        await NamedTruncated("after a chainer restart");

        // A new host, new events reusing the reset sequence: still named, and nothing is chained over the cut.
        await ledger.RestartAsync();
        await ledger.ActiveApp("after");
        await LedgerFixture.EventuallyAsync(() => Task.FromResult(ledger.Chainer().Halted is not null), TimeSpan.FromSeconds(20));
        await NamedTruncated("after a host restart");
    }

    [Fact]
    public async Task A_live_tail_cut_after_the_last_checkpoint_is_named_at_the_next_checkpoint()
    {
        await using var ledger = await IsolatedLedger.StartAsync();
        await ledger.ChainedApp("before");
        var witnessed = await ledger.CheckpointNow();
        var seqs = await ledger.ChainedApp("cut");
        var cut = seqs.Min();
        cut.ShouldBeGreaterThan(witnessed);
        await As(ledger.ConnectionString, async c =>
        {
            await Exec(c, "delete from ledger.mt_events where seq_id >= $1", cut);
            await Exec(c, "delete from ledger.chain_links where seq_id >= $1", cut);
        });

        // The running chainer still holds what it chained: the next checkpoint carries it to the witness.
        await ledger.ChainedApp("next");
        await ledger.CheckpointNow();
        var report = await ledger.Verify();
        report.FirstBroken!.Sequence.ShouldBe(cut, report.Describe());
        report.FirstBroken.Reason.ShouldBe("deleted");
    }

    [Fact]
    public async Task A_live_edit_with_a_rewritten_chain_after_the_last_checkpoint_is_named_at_the_next_checkpoint()
    {
        await using var ledger = await IsolatedLedger.StartAsync();
        await ledger.ChainedApp("before");
        await ledger.CheckpointNow();
        var seqs = await ledger.ChainedApp("edit");
        var target = seqs[2];
        await As(ledger.ConnectionString, async c =>
        {
            await Exec(c, "update ledger.mt_events set data = jsonb_set(data, '{Owner}', '\"mallory@example.com\"') where seq_id = $1", target);
            await RewriteChainFrom(c, target);
        });
        // Before the next checkpoint the database agrees with itself...
        (await ledger.Verify()).Intact.ShouldBeTrue();
        // ...and from it on, the witness says what was chained.
        await ledger.ChainedApp("next");
        await ledger.CheckpointNow();
        var report = await ledger.Verify();
        report.FirstBroken!.Sequence.ShouldBe(target, report.Describe());
        report.FirstBroken.Reason.ShouldBe("edited");
    }

    [Fact]
    public async Task A_rolled_back_transaction_is_a_recorded_hole_and_a_deletion_cannot_pass_as_one()
    {
        await using var ledger = await IsolatedLedger.StartAsync();
        await ledger.ChainedApp("hole");
        long hole;
        await using (var c = await Superuser(ledger.ConnectionString))
        {
            // A transaction that takes a sequence number and rolls back, as a failed append does.
            await using var transaction = await c.BeginTransactionAsync();
            await using var next = new Npgsql.NpgsqlCommand("select nextval('ledger.mt_events_sequence')", c, transaction);
            hole = (long)(await next.ExecuteScalarAsync())!;
            await transaction.RollbackAsync();
        }
        var seqs = await ledger.ChainedApp("after-hole");
        await ledger.CheckpointNow();
        await using (var c = await Superuser(ledger.ConnectionString))
            (await Scalar<string>(c, "select kind from ledger.chain_links where seq_id = $1", hole)).ShouldBe("hole");
        var intact = await ledger.Verify();
        intact.Intact.ShouldBeTrue(intact.Describe());
        intact.HolesChecked.ShouldBeGreaterThanOrEqualTo(1);

        // Delete a witnessed event and record its sequence as a hole, chain rewritten to match: the witness saw an event there.
        var target = seqs[1];
        await As(ledger.ConnectionString, async c =>
        {
            await Exec(c, "delete from ledger.mt_events where seq_id = $1", target);
            await RewriteChainFrom(c, target);
        });
        var report = await ledger.Verify();
        report.FirstBroken!.Sequence.ShouldBe(target, report.Describe());
        report.FirstBroken.Reason.ShouldBe("deleted");
    }

    [Fact]
    public async Task Checkpoints_are_signed_with_the_checkpoint_key_and_the_witness_refuses_to_be_overwritten()
    {
        await using var ledger = await IsolatedLedger.StartAsync();
        await ledger.ChainedApp("witness");
        var treeSize = await ledger.CheckpointNow();
        var file = Directory.GetFiles(ledger.WitnessDirectory(), $"{treeSize:D20}.checkpoint.json").Single();
        var jws = JsonDocument.Parse(await File.ReadAllTextAsync(file)).RootElement.GetProperty("jws").GetString()!;
        var (kid, statement) = CheckpointJws.Read(jws)!.Value;
        statement.TreeSize.ShouldBe(treeSize);
        statement.Root.ShouldNotBeNull();
        kid.ShouldStartWith(KeyPurposes.Checkpoints);

        var witness = ledger.Host.Services.GetRequiredService<GovernanceLedger.Audit.Witness.IChainWitness>();
        var kept = await witness.WitnessAsync(new GovernanceLedger.Audit.Witness.WitnessedCheckpoint(treeSize, 0, "forged", new byte[treeSize * 32]), CancellationToken.None);
        kept.Jws.ShouldBe(jws);
        (await File.ReadAllTextAsync(file)).ShouldContain(jws);
    }
}
