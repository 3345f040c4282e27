using GovernanceLedger.Audit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Audit;

/// <summary>
/// Tampering done by direct SQL as a superuser (the only one who can switch the append-only
/// triggers off) is found by verify. These tests alter the shared ledger, so each restores what it
/// changed before it ends.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Tamper_evidence_tests(LedgerFixture ledger)
{
    private async Task<NpgsqlConnection> Superuser()
    {
        var connection = new NpgsqlConnection(ledger.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task Exec(NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value });
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<T> Scalar<T>(NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value });
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Registers an app and waits until the chain covers its events; returns their sequence numbers.</summary>
    private async Task<long[]> ChainedApp()
    {
        var appId = await ledger.ActiveApp("chain");
        var sequences = (await ledger.StreamOf(appId)).Select(e => e.Sequence).ToArray();
        var chainer = ledger.Host.Services.GetRequiredService<LedgerChainer>();
        await LedgerFixture.EventuallyAsync(() => Task.FromResult(chainer.LastChained >= sequences.Max()), TimeSpan.FromSeconds(20));
        return sequences;
    }

    private async Task<VerificationReport> Verify(long from, long to)
    {
        var auditor = await ledger.PersonToken("auditor@example.com", "auditor");
        var response = await ledger.Get($"/audit/verify?from={from}&to={to}", auditor);
        response.Status.ShouldBe(200, response.Text);
        return System.Text.Json.JsonSerializer.Deserialize<VerificationReport>(response.Text, GovernanceLedger.Infrastructure.LedgerSetup.ApiJson)!;
    }

    /// <summary>Runs tampering SQL with the append-only triggers switched off for this session only.</summary>
    private async Task Tamper(Func<NpgsqlConnection, Task> change)
    {
        await using var connection = await Superuser();
        await Exec(connection, "set session_replication_role = replica");
        await change(connection);
    }

    [Fact]
    public async Task An_untouched_ledger_verifies()
    {
        var seqs = await ChainedApp();
        var report = await Verify(seqs.Min(), seqs.Max());
        report.Intact.ShouldBeTrue(string.Join("; ", report.Problems));
        report.EventsChecked.ShouldBeGreaterThanOrEqualTo(seqs.Length);
    }

    [Fact]
    public async Task The_application_cannot_update_delete_or_truncate_ledger_events()
    {
        var seqs = await ChainedApp();
        await using var connection = await Superuser();
        foreach (var sql in new[]
        {
            "update ledger.mt_events set data = '{}' where seq_id = $1",
            "delete from ledger.mt_events where seq_id = $1",
            "update ledger.chain_links set link = '\\x00' where seq_id = $1",
            "delete from ledger.chain_links where seq_id = $1"
        })
        {
            var error = await Should.ThrowAsync<PostgresException>(() => Exec(connection, sql, seqs[0]));
            error.MessageText.ShouldContain("append-only");
        }
        (await Should.ThrowAsync<PostgresException>(() => Exec(connection, "truncate ledger.mt_events"))).MessageText.ShouldContain("append-only");
    }

    [Fact]
    public async Task An_edited_event_is_found_at_its_sequence()
    {
        var seqs = await ChainedApp();
        var target = seqs[2];
        var original = await Scalar<string>(await Superuser(), "select data::text from ledger.mt_events where seq_id = $1", target);
        await Tamper(c => Exec(c, "update ledger.mt_events set data = jsonb_set(data, '{Reason}', '\"looks fine\"') where seq_id = $1", target));
        try
        {
            var report = await Verify(seqs.Min(), seqs.Max());
            report.Intact.ShouldBeFalse();
            report.FirstBroken!.Sequence.ShouldBe(target);
            report.FirstBroken.Reason.ShouldBe("edited");
        }
        finally
        {
            await Tamper(c => Exec(c, "update ledger.mt_events set data = $2::jsonb where seq_id = $1", target, original));
        }
        (await Verify(seqs.Min(), seqs.Max())).Intact.ShouldBeTrue();
    }

    [Fact]
    public async Task A_deleted_event_is_found_at_its_sequence()
    {
        var seqs = await ChainedApp();
        var target = seqs[3];
        await using var saved = await Superuser();
        await Tamper(c => Exec(c, "create table ledger.saved_event as select * from ledger.mt_events where seq_id = $1", target));
        await Tamper(c => Exec(c, "delete from ledger.mt_events where seq_id = $1", target));
        try
        {
            var report = await Verify(seqs.Min(), seqs.Max());
            report.FirstBroken!.Sequence.ShouldBe(target);
            report.FirstBroken.Reason.ShouldBe("deleted");
        }
        finally
        {
            await Tamper(async c =>
            {
                await Exec(c, "insert into ledger.mt_events select * from ledger.saved_event");
                await Exec(c, "drop table ledger.saved_event");
            });
        }
        (await Verify(seqs.Min(), seqs.Max())).Intact.ShouldBeTrue();
    }

    [Fact]
    public async Task Two_swapped_events_are_reported_as_reordered()
    {
        var seqs = await ChainedApp();
        var (a, b) = (seqs[1], seqs[2]);
        async Task Swap() => await Tamper(async c =>
        {
            await Exec(c, "update ledger.mt_events set seq_id = -1 where seq_id = $1", a);
            await Exec(c, "update ledger.mt_events set seq_id = $1 where seq_id = $2", a, b);
            await Exec(c, "update ledger.mt_events set seq_id = $1 where seq_id = -1", b);
        });
        await Swap();
        try
        {
            var report = await Verify(seqs.Min(), seqs.Max());
            report.FirstBroken!.Sequence.ShouldBe(a);
            report.Problems.Where(p => p.Sequence == a || p.Sequence == b).ShouldAllBe(p => p.Reason == "reordered");
        }
        finally
        {
            await Swap();
        }
        (await Verify(seqs.Min(), seqs.Max())).Intact.ShouldBeTrue();
    }

    [Fact]
    public async Task A_deleted_checkpoint_is_reported_as_a_missing_checkpoint()
    {
        await ChainedApp();
        var chainer = ledger.Host.Services.GetRequiredService<LedgerChainer>();
        await using var connection = await Superuser();
        long checkpointSeq = 0;
        await LedgerFixture.EventuallyAsync(async () =>
        {
            checkpointSeq = await Scalar<long>(connection,
                "select coalesce(max(seq_id), 0) from ledger.mt_events where type = 'chain_checkpointed' and seq_id <= $1", chainer.LastChained);
            return checkpointSeq > 0;
        }, TimeSpan.FromSeconds(10));

        await Tamper(c => Exec(c, "create table ledger.saved_checkpoint as select * from ledger.mt_events where seq_id = $1", checkpointSeq));
        await Tamper(c => Exec(c, "delete from ledger.mt_events where seq_id = $1", checkpointSeq));
        try
        {
            var report = await Verify(checkpointSeq, checkpointSeq);
            report.FirstBroken!.Sequence.ShouldBe(checkpointSeq);
            report.FirstBroken.Reason.ShouldBe("missing-checkpoint");
        }
        finally
        {
            await Tamper(async c =>
            {
                await Exec(c, "insert into ledger.mt_events select * from ledger.saved_checkpoint");
                await Exec(c, "drop table ledger.saved_checkpoint");
            });
        }
    }

    [Fact]
    public async Task The_exported_chain_checks_out_offline_exactly_as_the_readme_describes()
    {
        var seqs = await ChainedApp();
        using var client = ledger.Client();
        client.DefaultRequestHeaders.Authorization = new("Bearer", await ledger.PersonToken("auditor@example.com", "auditor"));
        var lines = (await client.GetStringAsync($"/audit/chain-export?to={seqs.Max()}")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBeGreaterThanOrEqualTo(seqs.Length);

        var previous = new byte[32];
        foreach (var line in lines)
        {
            var e = System.Text.Json.Nodes.JsonNode.Parse(line)!;
            var canonical = $"{e["sequence"]}|{e["stream"]}|{e["version"]}|{e["type"]}|{e["timestamp"]}|{e["data"]!.GetValue<string>()}";
            var content = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonical));
            var link = System.Security.Cryptography.SHA256.HashData([.. previous, .. content]);
            Convert.ToHexStringLower(content).ShouldBe(e["content_hash"]!.GetValue<string>(), $"content at {e["sequence"]}");
            Convert.ToHexStringLower(link).ShouldBe(e["link"]!.GetValue<string>(), $"link at {e["sequence"]}");
            previous = link;
        }
    }

    [Fact]
    public async Task Verify_is_for_auditors_and_security_only()
    {
        (await ledger.Get("/audit/verify", await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(403);
        (await ledger.Get("/audit/verify", await ledger.PersonToken("finance@example.com", "finance"))).Status.ShouldBe(403);
        (await ledger.Get("/audit/verify", null)).Status.ShouldBe(401);
    }
}
