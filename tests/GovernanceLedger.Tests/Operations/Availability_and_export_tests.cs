using System.Net;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Infrastructure;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Operations;

/// <summary>An auditor or admin in a hurry cannot take the service down, and exports never run as formulas.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Availability_and_export_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task Parallel_verifies_get_429s_with_retry_after_never_500s_while_health_answers()
    {
        var auditor = await ledger.PersonToken("auditor@example.com", "auditor");
        using var client = ledger.Client();
        var verifies = Enumerable.Range(0, 40).Select(async _ =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/audit/verify");
            request.Headers.Authorization = new("Bearer", auditor);
            using var response = await client.SendAsync(request);
            return ((int)response.StatusCode, response.Headers.RetryAfter?.Delta);
        }).ToList();
        var health = await ledger.Get("/health", null);
        var answers = await Task.WhenAll(verifies);

        health.Status.ShouldBe(200);
        answers.ShouldAllBe(a => a.Item1 == 200 || a.Item1 == 429);
        answers.ShouldContain(a => a.Item1 == 200);
        answers.ShouldContain(a => a.Item1 == 429);
        answers.Where(a => a.Item1 == 429).ShouldAllBe(a => a.Delta != null);
    }

    [Fact]
    public async Task A_long_verify_runs_as_a_job_whose_progress_can_be_followed()
    {
        var auditor = await ledger.PersonToken("job.auditor@example.com", "auditor");
        var started = await ledger.Post("/audit/verify/jobs", null, auditor);
        started.Status.ShouldBe(202, started.Text);
        var id = started.Str("job_id");
        var again = await ledger.Post("/audit/verify/jobs", null, auditor);
        if (again.Status == 429) again.Text.ShouldContain("one-verify-job-per-person");

        ApiResponse followed = null!;
        await LedgerFixture.EventuallyAsync(async () =>
        {
            followed = await ledger.Get($"/audit/verify/jobs/{id}", auditor);
            return followed.Str("status") != "running";
        }, TimeSpan.FromSeconds(60));
        followed.Str("status").ShouldBe("done", followed.Text);
        followed.Node("checked")!.GetValue<long>().ShouldBe(followed.Node("total")!.GetValue<long>());
        followed.Node("report.events_checked")!.GetValue<long>().ShouldBeGreaterThan(0, followed.Text);
        (await ledger.Get($"/audit/verify/jobs/{id}", await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(403);
        (await ledger.Get("/audit/verify/jobs/nope", auditor)).Status.ShouldBe(404);
    }

    [Fact]
    public async Task One_rebuild_runs_at_a_time_and_the_others_learn_its_progress()
    {
        var admins = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => ledger.PersonToken($"admin{i}@example.com", "platform-admin")));
        var rebuilds = await Task.WhenAll(admins.Select(token => ledger.Post("/admin/projections/rebuild", null, token)));
        rebuilds.ShouldAllBe(r => r.Status == 200 || r.Status == 409 || r.Status == 429);
        rebuilds.Count(r => r.Status == 200).ShouldBeGreaterThanOrEqualTo(1);
        rebuilds.Where(r => r.Status == 409).ShouldAllBe(r => r.Text.Contains("one-rebuild-at-a-time"));
        (await ledger.Get("/apps", await ledger.PersonToken(Admin, "platform-admin"))).Json!.AsArray().ShouldNotBeEmpty();
    }

    [Theory]
    [InlineData("=1+1", "'=1+1")]
    [InlineData("+SUM(A1)", "'+SUM(A1)")]
    [InlineData("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0")]
    [InlineData("@SUM(1)", "'@SUM(1)")]
    [InlineData("\tx", "'\tx")]
    [InlineData("\rx", "\"'\rx\"")]
    [InlineData("plain, with comma", "\"plain, with comma\"")]
    [InlineData("sales_ops@example.com", "sales_ops@example.com")]
    public void A_csv_cell_never_starts_like_a_formula(string value, string written) => Csv.Cell(value).ShouldBe(written);

    [Fact]
    public async Task The_chargeback_csv_neutralises_an_owner_address_that_reads_like_a_formula()
    {
        var appId = NewAppId("formula");
        const string owner = "=1+1@x.co";
        (await ledger.Register(ExampleManifest(appId).With("owner", owner), await ledger.PersonToken(owner, "app-owner"))).Status.ShouldBe(201);
        var at = new DateTimeOffset(2031, 4, 10, 12, 0, 0, TimeSpan.Zero);
        await using (var session = ledger.Host.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            session.Events.Append($"access:{appId}:2031-04-10:9", new AccessRecorded("csv-1", appId, null, null, null, "gateway", "crm", "GET", "/x",
                200, 1, 0, 100, "allow", "seeded", null, null, null, at));
            await session.SaveChangesAsync();
        }
        using var client = ledger.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/chargeback?month=2031-04&group_by=owner");
        request.Headers.Authorization = new("Bearer", await ledger.PersonToken("finance@example.com", "finance"));
        request.Headers.Accept.ParseAdd("text/csv");
        using var response = await client.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n');
        lines.ShouldContain(l => l.StartsWith("'=1+1@x.co,"));
        lines.ShouldNotContain(l => l.StartsWith("=1+1"));
    }
}
