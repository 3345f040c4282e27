using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
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
}
