using System.Text.Json.Nodes;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

/// <summary>A builder trying to register an id that reads like someone else's: refused whole, nothing stored, never a 500.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Identifier_attack_tests(LedgerFixture ledger)
{
    public static TheoryData<string, string> Impostors => new()
    {
        { "trailing newline", "internal-sales-quickview\n" },
        { "trailing carriage return", "internal-sales-quickview\r" },
        { "leading newline", "\ninternal-sales-quickview" },
        { "zero-width space", "internal-sales\u200b-quickview" },
        { "right-to-left override", "internal-sales-\u202equickview" },
        { "byte order mark", "\ufeffinternal-sales-quickview" },
        { "uppercase", "Internal-Sales-Quickview" },
        { "cyrillic a", "intern\u0430l-sales-quickview" },
        { "trailing space", "internal-sales-quickview " },
        { "double hyphen", "internal--sales" },
    };

    [Theory]
    [MemberData(nameof(Impostors))]
    public async Task An_app_id_that_is_not_one_canonical_slug_is_refused_and_nothing_is_stored(string what, string appId)
    {
        var before = await ledger.EventCount();
        var response = await ledger.Register(ExampleManifest(appId));

        response.Status.ShouldBe(400, $"{what}: {response.Text}");
        response.Node("errors")!.AsArray().ShouldContain(e => e!["field"]!.GetValue<string>() == "app_id", response.Text);
        (await ledger.EventCount()).ShouldBe(before);
        (await ledger.StreamOf(appId)).ShouldBeEmpty();
    }

    [Fact]
    public async Task The_same_holds_through_a_template_and_for_every_other_text_field()
    {
        var token = await ledger.PersonToken(Owner, "app-owner");
        var before = await ledger.EventCount();
        var viaTemplate = await ledger.Post("/apps/from-template/sales-lookup",
            new JsonObject { ["app_id"] = "emea-customer-lookup\n", ["owner"] = Owner }.ToJsonString(), token);
        viaTemplate.Status.ShouldBe(400, viaTemplate.Text);

        foreach (var (field, value) in new (string, JsonNode)[]
        {
            ("description", "quarterly numbers\n"), ("cost_center", "SALES-EMEA\n"), ("owner", Owner + "\n"),
            ("description", "looks fine\u2028"), ("scopes", Scenarios.Strings("read:contacts\n")),
        })
        {
            var manifest = ExampleManifest(NewAppId("text")).With(field, value);
            var refused = await ledger.Register(manifest);
            refused.Status.ShouldBe(400, $"{field}: {refused.Text}");
            refused.Text.ShouldContain(field);
        }
        (await ledger.EventCount()).ShouldBe(before);
    }

    [Fact]
    public async Task An_owner_address_is_kept_in_one_case_so_ownership_cannot_be_split()
    {
        var appId = NewAppId("case");
        var response = await ledger.Register(ExampleManifest(appId).With("owner", "Sales_Ops@Example.COM"));
        response.Status.ShouldBe(201, response.Text);
        var entry = await ledger.Get($"/apps/{appId}", await ledger.PersonToken(Owner, "app-owner"));
        entry.Str("owner").ShouldBe(Owner);
    }
}
