using System.Reflection;
using GovernanceLedger.Apps.Registering;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Projections.Catalog;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

/// <summary>
/// An app's trail is read by stream id. An app whose id spells one of the ledger's own streams, or the name under which
/// requests without a valid token are recorded, would hand its owner the ledger's records as its own.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class Reserved_app_id_tests(LedgerFixture ledger)
{
    public static TheoryData<string> Reserved() => new(ReservedAppIds.All);

    [Theory]
    [MemberData(nameof(Reserved))]
    public async Task Registering_an_app_under_a_reserved_id_is_refused_naming_the_field_and_rule(string appId)
    {
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var refused = await ledger.Register(ExampleManifest(appId), owner);
        refused.Status.ShouldBe(400, refused.Text);
        refused.Text.ShouldContain("app_id");
        refused.Text.ShouldContain("reserved");
        (await ledger.StreamOf(appId)).ShouldNotContain(e => e.Data is AppRegistered);
    }

    [Fact]
    public void Every_stream_of_the_ledgers_own_that_an_app_id_could_spell_is_reserved()
    {
        // Constant stream names anywhere in the ledger: those without ':' are valid app ids unless reserved.
        var names = typeof(ReservedAppIds).Assembly.GetTypes().Concat(typeof(AppCatalogEntry).Assembly.GetTypes())
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
            .Where(f => f is { IsLiteral: true } && f.FieldType == typeof(string) && f.Name.Contains("Stream", StringComparison.Ordinal))
            .Select(f => (string)f.GetRawConstantValue()!)
            .Where(v => !v.Contains(':') && System.Text.RegularExpressions.Regex.IsMatch(v, "^[a-z][a-z0-9]*(-[a-z0-9]+)*$"))
            .ToList();
        names.ShouldNotBeEmpty();
        names.ShouldAllBe(n => ReservedAppIds.Contains(n));
        ReservedAppIds.Contains(GovernanceLedger.DataPlane.Denial.Unauthenticated).ShouldBeTrue();
    }

    [Fact]
    public async Task An_app_that_took_the_unauthenticated_id_before_it_was_reserved_does_not_give_its_owner_everyones_refusals()
    {
        // An older ledger may already hold such an app: written here as it would have been registered then.
        const string squatter = "mallory@example.com";
        var store = ledger.Host.Services.GetRequiredService<IDocumentStore>();
        var appId = GovernanceLedger.DataPlane.Denial.Unauthenticated;
        await using (var session = store.LightweightSession())
        {
            session.Events.Append(appId, new AppRegistered(appId, new AppManifest { AppId = appId, Owner = squatter, Scopes = ["read:contacts"] },
                $"person:{squatter}", ledger.Clock.GetUtcNow()));
            await session.SaveChangesAsync();
        }
        await LedgerFixture.Eventually(async () =>
        {
            await using var query = store.QuerySession();
            return await query.LoadAsync<AppCatalogEntry>(appId) is not null;
        });
        // Someone without a valid token is refused: recorded under the reserved id.
        (await ledger.Get("/gw/crm/contacts?limit=1", "not-a-token")).Status.ShouldBe(401);

        var owner = await ledger.PersonToken(squatter, "app-owner");
        var from = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(-1).ToString("O"));
        (await ledger.Get($"/audit/timeline?app_id={appId}&from={from}", owner)).Status.ShouldBe(403);
        (await ledger.Get($"/audit/denials?app_id={appId}&from={from}", owner)).Status.ShouldBe(403);
        (await ledger.Get($"/ops/apps/{appId}", owner)).Status.ShouldBe(404);
        // Auditors still read it.
        var auditor = await ledger.PersonToken("auditor@example.com", "auditor");
        (await ledger.Get($"/audit/denials?app_id={appId}&from={from}", auditor)).Status.ShouldBe(200);
    }
}
