using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;

namespace GovernanceLedger.Tests.Audit;

/// <summary>
/// A page of an audit read carries at most Audit:MaxPageChars of event data: events of accesses committed together are
/// large, and a page of the largest limit must not become hundreds of MB held in memory and sent at once.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Audit_page_size_tests(LedgerFixture ledger)
{
    private const int Budget = 2_000;

    [Fact]
    public async Task A_page_ends_early_when_its_events_pass_the_size_budget_and_its_cursor_leads_on_without_gap_or_repeat()
    {
        var from = DateTimeOffset.UtcNow.AddMinutes(-1);
        var appId = await ledger.DataApp("pagesize");
        var token = await ledger.AppToken(appId);
        for (var i = 0; i < 6; i++) (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        var to = DateTimeOffset.UtcNow.AddMinutes(1);
        var auditor = await ledger.PersonToken("auditor@example.com", "auditor");
        var window = $"from={Uri.EscapeDataString(from.ToString("O"))}&to={Uri.EscapeDataString(to.ToString("O"))}";

        // The whole timeline in one page, as the default budget gives it.
        var whole = await ledger.Get($"/audit/timeline?app_id={appId}&{window}&limit=1000", auditor);
        whole.Status.ShouldBe(200, whole.Text);
        var expected = Sequences(whole.Node("items")!.AsArray());
        expected.Count.ShouldBeGreaterThan(8);

        await using var small = await LedgerFixture.StartHostAsync(ledger.ConnectionString, "Development", ledger.Clock,
            new Dictionary<string, string?>(ledger.DataPlaneSettings()) { ["Audit:MaxPageChars"] = Budget.ToString() });
        using var client = small.Server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", auditor);
        var seen = new List<long>();
        var pages = 0;
        long? cursor = 0;
        while (cursor is not null)
        {
            var page = JsonNode.Parse(await client.GetStringAsync($"/audit/timeline?app_id={appId}&{window}&limit=1000&cursor={cursor}"))!;
            var items = page["items"]!.AsArray();
            items.Count.ShouldBeGreaterThan(0);
            // Within the budget, unless one event alone is larger.
            if (items.Count > 1) items.Sum(i => i!["data"]!.ToJsonString().Length).ShouldBeLessThanOrEqualTo(Budget);
            seen.AddRange(Sequences(items));
            cursor = page["next_cursor"]?.GetValue<long>();
            pages++;
        }
        pages.ShouldBeGreaterThan(1);
        seen.ShouldBe(expected);
    }

    private static List<long> Sequences(JsonArray items) => items.Select(i => i!["sequence"]!.GetValue<long>()).ToList();
}
