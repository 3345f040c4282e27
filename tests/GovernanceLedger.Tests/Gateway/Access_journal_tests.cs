using System.Buffers;
using System.Net;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.DataPlane;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>The host-local access journal (DataPlane:Journal): its file format, a successor's recovery, and the ledger stalling.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Access_journal_tests(LedgerFixture ledger) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("govledger-journal-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static AccessRecorded Access(string appId, string requestId, DateTimeOffset at) => new(
        requestId, appId, null, "journal.user@example.com", "tok", "gateway", "crm", "GET", "/gw/crm/contacts", 200, 1.5, 0, 120,
        AccessDecisions.Allow, "served", "p", 1, null, at);

    /// <summary>Records as a host writes them: the event's JSON as the ledger's serializer writes it.</summary>
    private byte[] Encoded(IEnumerable<AccessRecorded> accesses)
    {
        var serializer = ledger.Host.Services.GetRequiredService<Marten.IDocumentStore>().Options.Serializer();
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var a in accesses)
            AccessJournal.Encode(buffer, typeof(AccessRecorded), a.AppId, a.At, serializer.ToJson(a));
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Records_read_back_in_order_and_reading_stops_at_a_record_cut_short_or_altered()
    {
        var at = DateTimeOffset.Parse("2026-11-30T10:00:00Z");
        var bytes = Encoded(Enumerable.Range(0, 3).Select(i => Access("app", $"r{i}", at.AddSeconds(i))));
        var path = Path.Combine(_directory, "a.journal");

        File.WriteAllBytes(path, bytes);
        var all = AccessJournal.Read(path, 0, out var torn);
        all.Select(r => (r.AppId, r.At)).ShouldBe(Enumerable.Range(0, 3).Select(i => ("app", at.AddSeconds(i))));
        all.Select(r => System.Text.Json.Nodes.JsonNode.Parse(r.Json)!.AsObject().Single(p => p.Key.Equals("RequestId", StringComparison.OrdinalIgnoreCase)).Value!.GetValue<string>())
            .ShouldBe(["r0", "r1", "r2"]);
        all[^1].End.ShouldBe(bytes.Length);
        torn.ShouldBe(0);
        AccessJournal.Read(path, all[0].End, out _).Select(r => r.End).ShouldBe([all[1].End, all[2].End]);

        // A crash mid-write: the last record is cut short, so it was never flushed and nobody was answered on it.
        File.WriteAllBytes(path, bytes[..^5]);
        AccessJournal.Read(path, 0, out torn).Count.ShouldBe(2);
        torn.ShouldBe(all[2].End - all[1].End - 5);

        // A byte changed in the second record: its checksum fails, and nothing after it is trusted.
        var altered = bytes.ToArray();
        altered[(int)all[0].End + 30] ^= 0x20;
        File.WriteAllBytes(path, altered);
        AccessJournal.Read(path, 0, out torn).Select(r => r.End).ShouldBe([all[0].End]);
        torn.ShouldBe(bytes.Length - all[0].End);
    }

    [Fact]
    public void A_segment_is_laid_out_with_zeros_ahead_of_its_records_and_reads_back_whole_groups_only()
    {
        var at = DateTimeOffset.Parse("2026-11-30T10:00:00Z");
        string path;
        var groups = new List<byte[]>
        {
            Encoded([Access("app", "g0", at)]),
            Encoded(Enumerable.Range(1, 3).Select(i => Access("app", $"g{i}", at.AddSeconds(i)))),
            // A group larger than the megabyte the segment grows by at a time.
            Encoded(Enumerable.Range(4, 3_000).Select(i => Access("app", $"g{i}", at.AddMilliseconds(i))))
        };
        using (var journal = AccessJournal.Open(_directory, "zeros", 64L << 20))
        {
            path = Path.Combine(_directory, journal.Current);
            foreach (var group in groups) journal.Append(group);
        }
        var written = groups.Sum(g => g.Length);
        written.ShouldBeGreaterThan(1 << 20);
        // Prepared ahead in whole megabytes: the file is longer than its records, and the rest is zeros.
        new FileInfo(path).Length.ShouldBe((written + (1 << 20) - 1) / (1 << 20) * (1 << 20));
        var records = AccessJournal.Read(path, 0, out var torn);
        torn.ShouldBe(0);
        records.Count.ShouldBe(3_004);
        records[^1].End.ShouldBe(written);

        // A group cut short inside the zeros: the whole groups before it read back, and the cut bytes are counted as torn.
        var bytes = File.ReadAllBytes(path);
        var cut = Encoded([Access("app", "cut", at)]);
        cut.AsSpan(0, cut.Length - 7).CopyTo(bytes.AsSpan(written));
        File.WriteAllBytes(path, bytes);
        AccessJournal.Read(path, 0, out torn).Count.ShouldBe(3_004);
        torn.ShouldBe(cut.Length - 7);
    }

    [Fact]
    public void A_journal_directory_serves_one_host_at_a_time()
    {
        using var first = AccessJournal.Open(_directory, "one", 1 << 20);
        var refused = Should.Throw<InvalidOperationException>(() => AccessJournal.Open(_directory, "two", 1 << 20));
        refused.Message.ShouldContain("in use by another host");
    }

    [Fact]
    public async Task A_starting_host_appends_what_its_predecessor_journaled_beyond_the_ledger_once_and_drops_a_torn_tail()
    {
        var appId = await ledger.DataApp("journal-recover");
        var at = DateTimeOffset.UtcNow;
        var accesses = Enumerable.Range(0, 40).Select(i => Access(appId, $"recover-{appId}-{i:00}", at.AddMilliseconds(i))).ToList();
        var bytes = Encoded(accesses);
        var segment = $"20261130T000000{Random.Shared.Next(10_000_000):0000000}-{appId[^6..]}.journal";
        // The predecessor was killed while writing its 41st record, after its drain had appended the first 10.
        File.WriteAllBytes(Path.Combine(_directory, segment), [.. bytes, .. Encoded([Access(appId, "torn", at)])[..^9]]);
        var ends = AccessJournal.Read(Path.Combine(_directory, segment), 0, out _).Select(r => r.End).ToList();
        await using (var db = NpgsqlDataSource.Create(ledger.ConnectionString))
        await using (var mark = db.CreateCommand("insert into ledger.journal_segments (segment, drained) values ($1, $2)"))
        {
            mark.Parameters.Add(new NpgsqlParameter { Value = segment });
            mark.Parameters.Add(new NpgsqlParameter { Value = ends[9] });
            await mark.ExecuteNonQueryAsync();
        }

        var port = ChildHost.FreePort();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var host = ChildHost.Start(ledger, port, settings: new Dictionary<string, string> { ["DataPlane__Journal"] = _directory });
        try
        {
            await ChildHost.WaitHealthy(client, host);
            // Healthy means started, and a host serves only once its predecessor's journal is in the ledger.
            var recorded = (await ledger.AccessEvents(appId, at)).OfType<AccessRecorded>().Select(a => a.RequestId).ToList();
            recorded.Order().ShouldBe(accesses.Skip(10).Select(a => a.RequestId));
            File.Exists(Path.Combine(_directory, segment)).ShouldBeFalse();
            var restored = (await ledger.AccessEvents(appId, at)).OfType<AccessRecorded>().Single(a => a.RequestId == accesses[10].RequestId);
            restored.ShouldBe(accesses[10] with { MaskedFields = restored.MaskedFields });
        }
        finally
        {
            host.Kill(entireProcessTree: true);
            await host.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task While_the_journal_cannot_be_written_requests_are_503_and_health_says_so_until_the_disk_has_room_again()
    {
        var appId = await ledger.DataApp("journal-full", new JsonObject { ["requests_per_second"] = 10_000 });
        var port = ChildHost.FreePort();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(20) };
        // No file of this host may grow past 512 KB: the journal's first megabyte cannot be laid out, as on a full disk.
        // (The runtime's double-mapped code memory is a file too: it is turned off, so the limit bites the journal alone.)
        var host = ChildHost.Start(ledger, port, settings: new Dictionary<string, string>
        {
            ["DataPlane__Journal"] = _directory, ["DOTNET_EnableWriteXorExecute"] = "0"
        }, maxFileKilobytes: 512);
        try
        {
            await ChildHost.WaitHealthy(client, host);
            client.DefaultRequestHeaders.Authorization = new("Bearer", await ChildHost.AppTokenAsync(client, appId, "full.user@example.com"));
            using (var refused = await client.GetAsync("/gw/crm/contacts?limit=1"))
            {
                refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
                var id = refused.Headers.GetValues("X-Request-Id").Single();
                (await ledger.AccessEvents(appId, DateTimeOffset.UtcNow)).OfType<AccessRecorded>().ShouldNotContain(a => a.RequestId == id);
            }
            using (var health = await client.GetAsync("/health"))
            {
                health.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
                JsonNode.Parse(await health.Content.ReadAsStringAsync())!["journal"]!["writes"]!.GetValue<string>().ShouldBe("failing");
            }

            ChildHost.LiftFileSizeLimit(host);
            // The directory is probed at most once a second, so health turns within about that.
            await ledger.Eventually(async () =>
            {
                using var health = await client.GetAsync("/health");
                return health.StatusCode == HttpStatusCode.OK
                    && JsonNode.Parse(await health.Content.ReadAsStringAsync())!["journal"]!["writes"]!.GetValue<string>() == "ok";
            }, TimeSpan.FromSeconds(10));
            using var served = await client.GetAsync("/gw/crm/contacts?limit=1");
            served.StatusCode.ShouldBe(HttpStatusCode.OK);
            var servedId = served.Headers.GetValues("X-Request-Id").Single();
            await ledger.Eventually(async () => (await ledger.AccessEvents(appId, DateTimeOffset.UtcNow)).OfType<AccessRecorded>().Any(a => a.RequestId == servedId),
                TimeSpan.FromSeconds(10));
            Directory.GetFiles(_directory, "probe-*").ShouldBeEmpty();
        }
        finally
        {
            host.Kill(entireProcessTree: true);
            await host.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task While_the_ledger_cannot_take_the_journal_requests_are_refused_after_the_allowed_lag_and_served_again_once_it_can()
    {
        const int perDay = 60;
        var appId = await ledger.DataApp("journal-stall", new JsonObject { ["requests_per_second"] = 10_000, ["requests_per_day"] = perDay });
        var port = ChildHost.FreePort();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(20) };
        var host = ChildHost.Start(ledger, port, settings: new Dictionary<string, string>
        {
            ["DataPlane__Journal"] = _directory, ["DataPlane__JournalPace"] = "00:00:00.010", ["DataPlane__JournalMaxLag"] = "00:00:00.300"
        });
        var served = new List<string>();
        var refused = 0;
        try
        {
            await ChildHost.WaitHealthy(client, host);
            client.DefaultRequestHeaders.Authorization = new("Bearer", await ChildHost.AppTokenAsync(client, appId, "stall.user@example.com"));
            async Task<HttpStatusCode> Get()
            {
                using var response = await client.GetAsync("/gw/crm/contacts?limit=1");
                if (response.StatusCode == HttpStatusCode.OK) served.Add(response.Headers.GetValues("X-Request-Id").Single());
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable) refused++;
                return response.StatusCode;
            }
            (await Get()).ShouldBe(HttpStatusCode.OK);

            // The ledger stalls: a transaction holds the table every drain writes to.
            await using var db = NpgsqlDataSource.Create(ledger.ConnectionString);
            await using var stall = await db.OpenConnectionAsync();
            await using var transaction = await stall.BeginTransactionAsync();
            await using (var hold = new NpgsqlCommand("lock table ledger.journal_segments in access exclusive mode", stall, transaction))
                await hold.ExecuteNonQueryAsync();
            var servedBefore = served.Count;
            await ledger.Eventually(async () => await Get() == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(15));
            (served.Count - servedBefore).ShouldBeGreaterThan(0, "requests are served from the journal within the allowed lag");
            (await Get()).ShouldBe(HttpStatusCode.ServiceUnavailable);
            using (var health = await client.GetAsync("/health"))
            {
                health.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
                JsonNode.Parse(await health.Content.ReadAsStringAsync())!["journal"]!["ledger"]!.GetValue<string>().ShouldBe("lagging");
            }

            await transaction.RollbackAsync();
            await ledger.Eventually(async () => await Get() == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
            // The requests refused while the ledger lagged were not served, so they spent none of the daily quota.
            served.Count.ShouldBeLessThan(perDay);
            HttpStatusCode last;
            while ((last = await Get()) == HttpStatusCode.OK) { }
            last.ShouldBe(HttpStatusCode.TooManyRequests);
            served.Count.ShouldBe(perDay);
            await ledger.Eventually(async () =>
            {
                var recorded = (await ledger.AccessEvents(appId, DateTimeOffset.UtcNow)).OfType<AccessRecorded>()
                    .Where(a => a.Decision == AccessDecisions.Allow).Select(a => a.RequestId).ToList();
                return recorded.Count == served.Count && served.All(recorded.Contains);
            }, TimeSpan.FromSeconds(10));
            refused.ShouldBeGreaterThanOrEqualTo(2);
        }
        finally
        {
            host.Kill(entireProcessTree: true);
            await host.WaitForExitAsync();
        }
    }
}
