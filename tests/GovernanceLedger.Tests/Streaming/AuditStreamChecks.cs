using GovernanceLedger.Infrastructure;
using GovernanceLedger.Streaming.AuditStream;
using Microsoft.Extensions.DependencyInjection;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>What a security consumer checks: every chained ledger event is on the audit topic, in order per partition.</summary>
public static class AuditStreamChecks
{
    public static async Task<List<long>> ChainedSequencesAsync(this StreamingFixture ledger)
    {
        var source = ledger.Host.Services.GetRequiredService<LedgerDatabase>().Source;
        await using var command = source.CreateCommand("select seq_id from ledger.chain_links where kind <> 'hole' order by seq_id");
        var sequences = new List<long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) sequences.Add(reader.GetInt64(0));
        return sequences;
    }

    public static async Task WaitForAuditRelayAsync(this StreamingFixture ledger)
    {
        var relay = ledger.Host.Services.GetRequiredService<AuditRelay>();
        // Everything appended so far must be chained first (the chainer trails the appends, more so on a busy
        // machine), then published: otherwise "every chained event" would leave out the newest ones.
        long appended;
        await using (var last = ledger.Host.Services.GetRequiredService<LedgerDatabase>().Source.CreateCommand("select coalesce(max(seq_id), 0) from ledger.mt_events"))
            appended = (long)(await last.ExecuteScalarAsync())!;
        await LedgerFixture.EventuallyAsync(async () =>
        {
            var chained = await ledger.ChainedSequencesAsync();
            return chained.Count > 0 && chained[^1] >= appended && relay.Published >= chained[^1];
        }, TimeSpan.FromSeconds(30));
    }

    /// <summary>Every chained sequence is on the topic, and each partition carries its sequences in ascending order.</summary>
    public static async Task AssertAuditTopicMatchesLedgerAsync(this StreamingFixture ledger)
    {
        await ledger.WaitForAuditRelayAsync();
        var chained = await ledger.ChainedSequencesAsync();
        var messages = await ledger.ReadAvroAsync("governance.audit.v1",
            r => r.Select(m => (long)m.Message.Value["sequence"]).ToHashSet().IsSupersetOf(chained), TimeSpan.FromSeconds(60));
        var seen = messages.Select(m => (long)m.Message.Value["sequence"]).ToHashSet();
        chained.Where(s => !seen.Contains(s)).ShouldBeEmpty("every chained ledger event must be on the audit topic");
        foreach (var partition in messages.GroupBy(m => m.Partition.Value))
        {
            var inOrder = partition.OrderBy(m => m.Offset.Value).Select(m => (long)m.Message.Value["sequence"]).ToList();
            // A repeat after a restart is allowed (consumers drop it by sequence); going backwards past it is not.
            inOrder.Distinct().ShouldBe(inOrder.Distinct().Order());
        }
        var sample = messages.First(m => (string)m.Message.Value["event_type"] == "app_registered").Message;
        sample.Key.ShouldBe((string)sample.Value["app_id"]);
        ((string)sample.Value["chain_link"]).Length.ShouldBe(64);
    }
}
