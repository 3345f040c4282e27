using Microsoft.Extensions.DependencyInjection;
using GovernanceLedger.Audit;
using Npgsql;
using static GovernanceLedger.Tests.Audit.Tampering;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Audit;

/// <summary>
/// Tampering done by direct SQL as a superuser (the only one who can switch the append-only
/// triggers off) is found by verify. These tests alter the shared ledger, so each restores what it
/// changed before it ends; tests that truncate or restart have ledgers of their own (Witness_tests).
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Tamper_evidence_tests(LedgerFixture ledger)
{
    private Task Tamper(Func<NpgsqlConnection, Task> change) => As(ledger.ConnectionString, change);

    [Fact]
    public async Task An_untouched_ledger_verifies()
    {
        var seqs = await ledger.ChainedApp();
        var report = await ledger.Verify(seqs.Min(), seqs.Max());
        report.Intact.ShouldBeTrue(report.Describe());
        report.EventsChecked.ShouldBeGreaterThanOrEqualTo(seqs.Length);
    }

    [Fact]
    public async Task The_application_cannot_update_delete_or_truncate_ledger_events()
    {
        var seqs = await ledger.ChainedApp();
        await using var connection = await Superuser(ledger.ConnectionString);
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
        foreach (var table in new[] { "mt_events", "chain_links", "merkle_nodes" })
            (await Should.ThrowAsync<PostgresException>(() => Exec(connection, $"truncate ledger.{table}"))).MessageText.ShouldContain("append-only");
    }

    [Fact]
    public async Task An_edited_event_is_found_at_its_sequence()
    {
        var seqs = await ledger.ChainedApp();
        var target = seqs[2];
        var original = await Scalar<string>(await Superuser(ledger.ConnectionString), "select data::text from ledger.mt_events where seq_id = $1", target);
        await Tamper(c => Exec(c, "update ledger.mt_events set data = jsonb_set(data, '{Reason}', '\"looks fine\"') where seq_id = $1", target));
        try
        {
            var report = await ledger.Verify(seqs.Min(), seqs.Max());
            report.Intact.ShouldBeFalse();
            report.FirstBroken!.Sequence.ShouldBe(target);
            report.FirstBroken.Reason.ShouldBe("edited");
        }
        finally
        {
            await Tamper(c => Exec(c, "update ledger.mt_events set data = $2::jsonb where seq_id = $1", target, original));
        }
        (await ledger.Verify(seqs.Min(), seqs.Max())).Intact.ShouldBeTrue();
    }

    /// <summary>
    /// Makes a change as the superuser, expects verify over <paramref name="seqs"/> to report a problem <paramref name="found"/>
    /// accepts, undoes the change, and expects the ledger to verify intact again.
    /// </summary>
    private async Task FoundAsync(long[] seqs, Func<NpgsqlConnection, Task> change, Func<NpgsqlConnection, Task> undo, Func<ChainProblem, bool> found)
    {
        await Tamper(change);
        try
        {
            var report = await ledger.Verify(seqs.Min(), seqs.Max());
            report.Intact.ShouldBeFalse();
            report.Problems.ShouldContain(p => found(p), report.Describe());
        }
        finally
        {
            await Tamper(undo);
        }
        var again = await ledger.Verify(seqs.Min(), seqs.Max());
        again.Intact.ShouldBeTrue(again.Describe());
    }

    [Theory]
    [InlineData("is_archived", "update ledger.mt_events set is_archived = true where seq_id = $1", "update ledger.mt_events set is_archived = false where seq_id = $1")]
    [InlineData("is_archived", "update ledger.mt_events set is_archived = null where seq_id = $1", "update ledger.mt_events set is_archived = false where seq_id = $1")]
    [InlineData("tenant_id", "update ledger.mt_events set tenant_id = 'other' where seq_id = $1", "update ledger.mt_events set tenant_id = '*DEFAULT*' where seq_id = $1")]
    [InlineData("bdata", "update ledger.mt_events set bdata = '\\x00' where seq_id = $1", "update ledger.mt_events set bdata = null where seq_id = $1")]
    [InlineData("mt_dotnet_type", "update ledger.mt_events set mt_dotnet_type = 'GovernanceLedger.Contracts.Apps.AppResumed, GovernanceLedger.Contracts' where seq_id = $1", null)]
    [InlineData("mt_dotnet_type", "update ledger.mt_events set mt_dotnet_type = 'System.Object, System.Private.CoreLib' where seq_id = $1", null)]
    public async Task A_column_outside_the_hash_that_changes_what_is_read_back_is_found_at_its_sequence(string column, string change, string? undo)
    {
        // Archived, another tenant's, or read as another type: the command side would no longer see the event as it was
        // (a security pause hidden from its app, say), though its hashed content is untouched.
        var seqs = await ledger.ChainedApp();
        var target = seqs[2];
        var dotNetType = await Scalar<string>(await Superuser(ledger.ConnectionString), "select mt_dotnet_type from ledger.mt_events where seq_id = $1", target);
        await FoundAsync(seqs, c => Exec(c, change, target),
            c => Exec(c, undo ?? "update ledger.mt_events set mt_dotnet_type = $2 where seq_id = $1", undo is null ? [target, dotNetType] : [target]),
            p => p.Sequence == target && p.Reason == "edited" && p.Detail.Contains(column));
    }

    [Fact]
    public void Martens_own_tombstones_pass_as_what_they_are_and_lend_their_type_to_no_other_event()
    {
        // Marten fills the sequence numbers of a failed transaction with tombstone events: a ledger under load has them.
        var columns = ledger.Host.Services.GetRequiredService<GovernanceLedger.Audit.Verifying.EventColumns>();
        const string tombstone = "JasperFx.Events.Tombstone, JasperFx.Events";
        columns.Maps("tombstone", tombstone).ShouldBeTrue();
        columns.Maps("app_paused", tombstone).ShouldBeFalse();
        columns.Maps("tombstone", "GovernanceLedger.Contracts.Apps.AppPaused, GovernanceLedger.Contracts").ShouldBeFalse();
        columns.Maps("app_paused", "GovernanceLedger.Contracts.Apps.AppPaused, GovernanceLedger.Contracts").ShouldBeTrue();
    }

    [Theory]
    [InlineData("update ledger.mt_events set correlation_id = 'forged-trace' where seq_id = $1")]
    [InlineData("update ledger.mt_events set causation_id = 'forged-cause' where seq_id = $1")]
    [InlineData("update ledger.mt_events set id = gen_random_uuid() where seq_id = $1")]
    public async Task An_edited_id_correlation_or_causation_id_is_found_at_its_sequence(string change)
    {
        var seqs = await ledger.ChainedApp();
        var target = seqs[0];
        await using var connection = await Superuser(ledger.ConnectionString);
        var id = await Scalar<Guid>(connection, "select id from ledger.mt_events where seq_id = $1", target);
        var correlation = await Scalar<object>(connection, "select correlation_id from ledger.mt_events where seq_id = $1", target);
        var causation = await Scalar<object>(connection, "select causation_id from ledger.mt_events where seq_id = $1", target);
        await FoundAsync(seqs, c => Exec(c, change, target),
            c => Exec(c, "update ledger.mt_events set id = $2, correlation_id = $3, causation_id = $4 where seq_id = $1", target, id, correlation, causation),
            p => p.Sequence == target && p.Reason == "edited");
    }

    [Theory]
    [InlineData("update ledger.mt_streams set is_archived = true where id = $1", "update ledger.mt_streams set is_archived = false where id = $1", "archived")]
    [InlineData("update ledger.mt_streams set tenant_id = 'other' where id = $1", "update ledger.mt_streams set tenant_id = '*DEFAULT*' where id = $1", "tenant")]
    [InlineData("update ledger.mt_streams set version = version - 1 where id = $1", "update ledger.mt_streams set version = version + 1 where id = $1", "version")]
    public async Task A_stream_row_hidden_from_the_ledgers_reads_is_found_at_the_streams_first_event(string change, string undo, string named)
    {
        var seqs = await ledger.ChainedApp();
        await using var connection = await Superuser(ledger.ConnectionString);
        var stream = await Scalar<string>(connection, "select stream_id from ledger.mt_events where seq_id = $1", seqs[0]);
        // Archived or moved: named at the stream's first event; a lowered version at the first event the row leaves out.
        var at = await Scalar<long>(connection, $"select {(named == "version" ? "max" : "min")}(seq_id) from ledger.mt_events where stream_id = $1", stream);
        await FoundAsync(seqs, c => Exec(c, change, stream), c => Exec(c, undo, stream),
            p => p.Sequence == at && p.Reason == "edited" && p.Detail.Contains(stream) && p.Detail.Contains(named));
    }

    [Fact]
    public async Task A_deleted_stream_row_is_found()
    {
        // A stream without its row refuses every later append to it (a security pause of the app, say).
        var seqs = await ledger.ChainedApp();
        await using var connection = await Superuser(ledger.ConnectionString);
        var stream = await Scalar<string>(connection, "select stream_id from ledger.mt_events where seq_id = $1", seqs[0]);
        var row = await Scalar<string>(connection, "select row_to_json(s)::text from ledger.mt_streams s where id = $1", stream);
        await FoundAsync(seqs, c => Exec(c, "delete from ledger.mt_streams where id = $1", stream),
            c => Exec(c, "insert into ledger.mt_streams select * from json_populate_record(null::ledger.mt_streams, $1::json)", row),
            p => p.Sequence == seqs.Min() && p.Reason == "edited" && p.Detail.Contains(stream) && p.Detail.Contains("no row"));
    }

    [Theory]
    [InlineData("update ledger.chain_links set format = 3 where seq_id = $1", "update ledger.chain_links set format = 2 where seq_id = $1", "format 3")]
    [InlineData("update ledger.chain_links set kind = 'checkpoint' where seq_id = $1", "update ledger.chain_links set kind = 'event' where seq_id = $1", "kind 'checkpoint'")]
    public async Task A_chain_link_relabelled_is_found(string change, string undo, string named)
    {
        var seqs = await ledger.ChainedApp();
        await FoundAsync(seqs, c => Exec(c, change, seqs[1]), c => Exec(c, undo, seqs[1]),
            p => p.Sequence == seqs[1] && p.Reason == "chain-rewritten" && p.Detail.Contains(named));
    }

    [Theory]
    [InlineData("update ledger.mt_doc_appcatalogentry set data = jsonb_set(data, '{Status}', '\"Paused\"') where id = $1", "events folded again (Status)")]
    [InlineData("delete from ledger.mt_doc_appcatalogentry where id = $1", "is gone")]
    public async Task A_read_model_edited_or_deleted_behind_the_ledgers_back_is_found(string change, string named)
    {
        // The gateway admits by the catalog document: an app paused in its events but "active" in its document would serve.
        var seqs = await ledger.ChainedApp();
        await using var connection = await Superuser(ledger.ConnectionString);
        var appId = await Scalar<string>(connection, "select stream_id from ledger.mt_events where seq_id = $1", seqs[0]);
        var row = await Scalar<string>(connection, "select row_to_json(d)::text from ledger.mt_doc_appcatalogentry d where id = $1", appId);
        await FoundAsync(seqs, c => Exec(c, change, appId), async c =>
            {
                await Exec(c, "delete from ledger.mt_doc_appcatalogentry where id = $1", appId);
                await Exec(c, "insert into ledger.mt_doc_appcatalogentry select * from json_populate_record(null::ledger.mt_doc_appcatalogentry, $1::json)", row);
            },
            // Differing: named at the stream's last event; gone: at the event that started it.
            p => p.Detail.Contains("AppCatalogEntry") && p.Detail.Contains(appId) && p.Detail.Contains(named)
                && p.Sequence == (named == "is gone" ? seqs.Min() : seqs.Max()));
    }

    [Fact]
    public async Task A_deleted_event_is_found_at_its_sequence()
    {
        var seqs = await ledger.ChainedApp();
        var target = seqs[3];
        await Tamper(c => Exec(c, "create table ledger.saved_event as select * from ledger.mt_events where seq_id = $1", target));
        await Tamper(c => Exec(c, "delete from ledger.mt_events where seq_id = $1", target));
        try
        {
            var report = await ledger.Verify(seqs.Min(), seqs.Max());
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
        (await ledger.Verify(seqs.Min(), seqs.Max())).Intact.ShouldBeTrue();
    }

    [Fact]
    public async Task An_event_deleted_with_its_chain_link_is_found_at_its_sequence_against_the_witness()
    {
        var seqs = await ledger.ChainedApp();
        await ledger.CheckpointNow();
        var target = seqs[3];
        await Tamper(async c =>
        {
            await Exec(c, "create table ledger.saved_event as select * from ledger.mt_events where seq_id = $1", target);
            await Exec(c, "create table ledger.saved_link as select * from ledger.chain_links where seq_id = $1", target);
            await Exec(c, "delete from ledger.mt_events where seq_id = $1", target);
            await Exec(c, "delete from ledger.chain_links where seq_id = $1", target);
        });
        try
        {
            var report = await ledger.Verify(seqs.Min(), seqs.Max());
            report.FirstBroken!.Sequence.ShouldBe(target, report.Describe());
            report.FirstBroken.Reason.ShouldBe("deleted");
        }
        finally
        {
            await Tamper(async c =>
            {
                await Exec(c, "insert into ledger.mt_events select * from ledger.saved_event");
                await Exec(c, "insert into ledger.chain_links select * from ledger.saved_link");
                await Exec(c, "drop table ledger.saved_event; drop table ledger.saved_link");
            });
        }
        (await ledger.Verify(seqs.Min(), seqs.Max())).Intact.ShouldBeTrue();
    }

    [Fact]
    public async Task Two_swapped_events_are_reported_as_reordered()
    {
        var seqs = await ledger.ChainedApp();
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
            var report = await ledger.Verify(seqs.Min(), seqs.Max());
            report.FirstBroken!.Sequence.ShouldBe(a);
            report.Problems.Where(p => p.Sequence == a || p.Sequence == b).ShouldAllBe(p => p.Reason == "reordered");
        }
        finally
        {
            await Swap();
        }
        (await ledger.Verify(seqs.Min(), seqs.Max())).Intact.ShouldBeTrue();
    }

    [Fact]
    public async Task A_deleted_checkpoint_is_reported_as_a_missing_checkpoint()
    {
        await ledger.ChainedApp();
        var treeSize = await ledger.CheckpointNow();
        await using var connection = await Superuser(ledger.ConnectionString);
        long checkpointSeq = 0;
        await LedgerFixture.EventuallyAsync(async () =>
        {
            checkpointSeq = await Scalar<long>(connection,
                "select coalesce(max(seq_id), 0) from ledger.mt_events where type = 'chain_checkpointed' and (data->>'UpToSequence')::bigint = $1", treeSize);
            return checkpointSeq > 0 && ledger.Chainer().LastChained >= checkpointSeq;
        }, TimeSpan.FromSeconds(10));

        await Tamper(c => Exec(c, "create table ledger.saved_checkpoint as select * from ledger.mt_events where seq_id = $1", checkpointSeq));
        await Tamper(c => Exec(c, "delete from ledger.mt_events where seq_id = $1", checkpointSeq));
        try
        {
            var report = await ledger.Verify(checkpointSeq, checkpointSeq);
            report.FirstBroken!.Sequence.ShouldBe(checkpointSeq);
            report.FirstBroken.Reason.ShouldBe("missing-checkpoint");
            // Against the witness the whole ledger also names the checkpoint by the tree size it signed.
            (await ledger.Verify()).Problems.ShouldContain(p => p.Sequence == treeSize && p.Reason == "missing-checkpoint");
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
    public async Task The_exported_chain_and_the_witness_check_out_offline_with_the_readme_verifier()
    {
        await ledger.ChainedApp();
        await ledger.CheckpointNow();
        var (exitCode, output) = await ledger.VerifyOffline();
        exitCode.ShouldBe(0, output);
        output.ShouldContain("intact");
        output.ShouldContain("ok: witness");
    }

    [Fact]
    public async Task An_edit_is_named_by_the_offline_verifier_too()
    {
        var seqs = await ledger.ChainedApp();
        await ledger.CheckpointNow();
        var target = seqs[1];
        var original = await Scalar<string>(await Superuser(ledger.ConnectionString), "select data::text from ledger.mt_events where seq_id = $1", target);
        await Tamper(c => Exec(c, "update ledger.mt_events set data = jsonb_set(data, '{Owner}', '\"someone.else@example.com\"') where seq_id = $1", target));
        try
        {
            var (exitCode, output) = await ledger.VerifyOffline();
            exitCode.ShouldBe(1, output);
            output.ShouldContain($"BROKEN at {target}: edited");
        }
        finally
        {
            await Tamper(c => Exec(c, "update ledger.mt_events set data = $2::jsonb where seq_id = $1", target, original));
        }
    }

    [Fact]
    public async Task An_event_hidden_or_retyped_outside_the_hash_is_named_by_the_offline_verifier_too()
    {
        var seqs = await ledger.ChainedApp();
        await ledger.CheckpointNow();
        var (hidden, retyped) = (seqs[1], seqs[2]);
        var dotNetType = await Scalar<string>(await Superuser(ledger.ConnectionString), "select mt_dotnet_type from ledger.mt_events where seq_id = $1", retyped);
        await Tamper(async c =>
        {
            await Exec(c, "update ledger.mt_events set is_archived = true where seq_id = $1", hidden);
            await Exec(c, "update ledger.mt_events set mt_dotnet_type = 'GovernanceLedger.Contracts.Apps.AppResumed, GovernanceLedger.Contracts' where seq_id = $1", retyped);
        });
        try
        {
            var (exitCode, output) = await ledger.VerifyOffline();
            exitCode.ShouldBe(1, output);
            output.ShouldContain($"BROKEN at {hidden}: edited: the event is marked archived");
            output.ShouldContain($"BROKEN at {retyped}: edited: the event of type");
        }
        finally
        {
            await Tamper(async c =>
            {
                await Exec(c, "update ledger.mt_events set is_archived = false where seq_id = $1", hidden);
                await Exec(c, "update ledger.mt_events set mt_dotnet_type = $2 where seq_id = $1", retyped, dotNetType);
            });
        }
        (await ledger.VerifyOffline()).ExitCode.ShouldBe(0);
    }

    [Fact]
    public async Task Verify_is_for_auditors_and_security_only()
    {
        (await ledger.Get("/audit/verify", await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(403);
        (await ledger.Get("/audit/verify", await ledger.PersonToken("finance@example.com", "finance"))).Status.ShouldBe(403);
        (await ledger.Get("/audit/verify", null)).Status.ShouldBe(401);
        (await ledger.Get("/audit/proof/1", await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(403);
        (await ledger.Get("/audit/consistency?from=1", null)).Status.ShouldBe(401);
    }
}
