using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

[Collection(LedgerCollection.Name)]
public sealed class Archive_tests(LedgerFixture ledger)
{
    [Fact]
    public async Task A_retired_apps_whole_timeline_is_archived_with_a_signed_manifest_that_verifies_by_hash()
    {
        var appId = await ledger.DataApp("archived");
        var token = await ledger.AppToken(appId);
        for (var i = 0; i < 3; i++) (await ledger.Get("/gw/crm/contacts?limit=1", token)).Status.ShouldBe(200);
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post($"/apps/{appId}/retire", """{"reason":"the pilot is over"}""", owner)).Status.ShouldBe(200);

        await ledger.Eventually(async () => (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppArchived>().Any(), TimeSpan.FromSeconds(10));
        var archived = (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppArchived>().Single();
        archived.Location.ShouldStartWith(ledger.ArchiveDirectory);

        // The manifest is the one the ledger recorded, its file hashes match, and every event of the app is there.
        var manifestBytes = await File.ReadAllBytesAsync(Path.Combine(archived.Location, "manifest.json"));
        Convert.ToHexStringLower(SHA256.HashData(manifestBytes)).ShouldBe(archived.ManifestSha256);
        var manifest = JsonNode.Parse(manifestBytes)!;
        var file = manifest["files"]![0]!;
        var timeline = await File.ReadAllBytesAsync(Path.Combine(archived.Location, file["name"]!.GetValue<string>()));
        Convert.ToHexStringLower(SHA256.HashData(timeline)).ShouldBe(file["sha256"]!.GetValue<string>());
        var lines = Encoding.UTF8.GetString(timeline).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        lines.Count.ShouldBe((int)archived.Events);
        lines.Select(l => l["type"]!.GetValue<string>()).ShouldContain("app_retired");
        lines.Count(l => l["type"]!.GetValue<string>() == "access_recorded").ShouldBe(3);
        lines.Select(l => l["seq"]!.GetValue<long>()).ShouldBeInOrder();

        // The manifest's signature verifies with the ledger's published checkpoint key.
        var jws = await File.ReadAllTextAsync(Path.Combine(archived.Location, "manifest.jws"));
        var parts = jws.Split('.');
        Base64UrlEncoder.DecodeBytes(parts[1]).ShouldBe(manifestBytes);
        var jwks = new JsonWebKeySet((await ledger.Get("/.well-known/jwks.json", null)).Text);
        var key = jwks.Keys.Single(k => k.Kid == archived.KeyId);
        var verifier = key.CryptoProviderFactory.CreateForVerifying(key, SecurityAlgorithms.RsaSha256);
        verifier.Verify(Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"), Base64UrlEncoder.DecodeBytes(parts[2])).ShouldBeTrue();
        // A changed byte does not verify.
        var tampered = (byte[])manifestBytes.Clone();
        tampered[^2] ^= 1;
        verifier.Verify(Encoding.ASCII.GetBytes($"{parts[0]}.{Base64UrlEncoder.Encode(tampered)}"), Base64UrlEncoder.DecodeBytes(parts[2])).ShouldBeFalse();
    }

    [Fact]
    public async Task A_retired_apps_data_is_purged_from_the_stores_that_keep_it_when_its_retention_runs_out_with_counts()
    {
        JsonObject Surveys(string prefix, int retentionDays) => Scenarios.ExampleManifest(Scenarios.NewAppId(prefix))
            .With("scopes", Scenarios.Strings("read:survey_responses", "write:survey_responses")).With("connectors", Scenarios.Strings("forms:surveys"))
            .With("data_retention_days", retentionDays);
        var appId = await ledger.ServedApp(Surveys("purged", 7));
        var neighbour = await ledger.ServedApp(Surveys("kept", 7));
        async Task Answer(string app, string text)
        {
            var sent = await ledger.Post("/gw/surveys/responses", $$"""{"survey_id":"pulse","answer":"{{text}}"}""", await ledger.AppToken(app));
            sent.Status.ShouldBe(201, sent.Text);
        }
        for (var i = 0; i < 3; i++) await Answer(appId, $"answer {i}");
        await Answer(neighbour, "not theirs to purge");
        int Held(string app) => ledger.Upstream.Responses().Count(r => r["received_from_app"]!.GetValue<string>() == app);
        Held(appId).ShouldBe(3);

        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post($"/apps/{appId}/retire", """{"reason":"the survey closed"}""", owner)).Status.ShouldBe(200);
        var retired = (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppRetired>().Single();
        retired.RetainUntil.ShouldBe(retired.At.AddDays(7));
        // The retirement scheduled the purge, durably, for the moment the retention runs out.
        var inbox = ledger.Host.Services.GetRequiredService<Wolverine.Persistence.Durability.IMessageStore>();
        var incoming = await inbox.Admin.AllIncomingAsync();
        incoming.ShouldContain(e => e.MessageType!.EndsWith("PurgeAppData", StringComparison.OrdinalIgnoreCase)
            && (e.ScheduledTime - retired.RetainUntil)!.Value.Duration() < TimeSpan.FromMilliseconds(1), string.Join("; ", incoming.Select(e => $"{e.MessageType} {e.Status} {e.ScheduledTime:O}")) + " want " + retired.RetainUntil?.ToString("O"));

        async Task Purge()
        {
            using var scope = ledger.Host.Services.CreateScope();
            await scope.ServiceProvider.GetRequiredService<Wolverine.IMessageBus>().InvokeAsync(new GovernanceLedger.Operations.Retention.PurgeAppData(appId));
        }
        // A day before its time nothing goes.
        ledger.Clock.Advance(TimeSpan.FromDays(6));
        await Purge();
        Held(appId).ShouldBe(3);
        (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppDataPurged>().ShouldBeEmpty();

        // Say the ledger stopped once after the store purged and before it recorded: the store answers the same purge again with the same count.
        ledger.Clock.Advance(TimeSpan.FromDays(1));
        using (var http = new HttpClient())
        {
            var early = await http.PostAsync(ledger.Upstream.Url + "/retention/purge",
                new StringContent($$"""{"app_id":"{{appId}}","purge_id":"{{appId}}:surveys"}""", Encoding.UTF8, "application/json"));
            (await early.Content.ReadAsStringAsync()).ShouldContain("\"purged\":3");
        }
        Held(appId).ShouldBe(0);
        await Purge();
        var purged = (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppDataPurged>().ShouldHaveSingleItem();
        purged.Records.ShouldBe(3);
        purged.Stores.ShouldHaveSingleItem().ShouldBe(new PurgedData("surveys", "survey_responses", 3));
        purged.RetainUntil.ShouldBe(retired.RetainUntil!.Value);
        purged.Actor.ShouldBe("ledger");
        Held(neighbour).ShouldBe(1);

        // Once is enough: a repeated message records nothing more, and the catalog shows the purge.
        await Purge();
        (await ledger.StreamOf(appId)).Select(e => e.Data).OfType<AppDataPurged>().Count().ShouldBe(1);
        var entry = await ledger.Get($"/apps/{appId}", owner);
        entry.Node("data_purged_records")!.GetValue<long>().ShouldBe(3);
    }

    [Fact]
    public async Task A_store_that_does_not_confirm_a_purge_leaves_nothing_recorded_and_the_purge_is_tried_again()
    {
        var stores = new GovernanceLedger.Operations.Retention.RetentionStores(new Clients(), new Monitor(new GovernanceLedger.Gateway.GatewayOptions
        {
            Routes = [new() { Name = "surveys", Upstream = "http://127.0.0.1:1", Dataset = "survey_responses", Retention = new() { PurgePath = "/retention/purge" } }]
        }));
        (await Should.ThrowAsync<GovernanceLedger.Operations.Retention.RetentionStoreException>(() => stores.PurgeAsync("some-app", CancellationToken.None)))
            .Message.ShouldContain("could not be reached");
        // An answer without a count is not a purge either.
        var answerless = new GovernanceLedger.Operations.Retention.RetentionStores(new Clients(), new Monitor(new GovernanceLedger.Gateway.GatewayOptions
        {
            Routes = [new() { Name = "crm", Upstream = ledger.Upstream.Url, Retention = new() { PurgePath = "/contacts/1" } }]
        }));
        (await Should.ThrowAsync<GovernanceLedger.Operations.Retention.RetentionStoreException>(() => answerless.PurgeAsync("some-app", CancellationToken.None)))
            .Message.ShouldContain("answered 405");
        // A purge path is a path on the route's own upstream, never another address.
        var elsewhere = new GovernanceLedger.Operations.Retention.RetentionStores(new Clients(), new Monitor(new GovernanceLedger.Gateway.GatewayOptions
        {
            Routes = [new() { Name = "crm", Upstream = ledger.Upstream.Url, Retention = new() { PurgePath = "//evil.example/purge" } }]
        }));
        (await Should.ThrowAsync<GovernanceLedger.Operations.Retention.RetentionStoreException>(() => elsewhere.PurgeAsync("some-app", CancellationToken.None)))
            .Message.ShouldContain("not a path on its upstream");
    }

    private sealed class Clients : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new() { Timeout = TimeSpan.FromSeconds(5) };
    }

    private sealed class Monitor(GovernanceLedger.Gateway.GatewayOptions value) : Microsoft.Extensions.Options.IOptionsMonitor<GovernanceLedger.Gateway.GatewayOptions>
    {
        public GovernanceLedger.Gateway.GatewayOptions CurrentValue => value;
        public GovernanceLedger.Gateway.GatewayOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<GovernanceLedger.Gateway.GatewayOptions, string?> listener) => null;
    }
}
