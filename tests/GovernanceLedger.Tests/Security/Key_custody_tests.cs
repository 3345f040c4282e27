using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Security;
using GovernanceLedger.Security;
using GovernanceLedger.Security.KeyCustody;
using GovernanceLedger.Tests.Audit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Security;

/// <summary>Private keys live in the key store outside PostgreSQL, one per purpose, and every instance follows rotations.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Key_custody_tests(LedgerFixture ledger)
{
    private IKeyStore KeyStore => ledger.Host.Services.GetRequiredService<IKeyStore>();

    [Fact]
    public async Task No_table_of_the_ledger_database_and_no_key_file_holds_private_key_material_in_clear()
    {
        var appId = await ledger.ActiveApp("custody");
        (await ledger.Post($"/apps/{appId}/tokens", null, await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(200);
        await ledger.ChainedApp("custody");
        await ledger.CheckpointNow();
        var needles = await Tampering.PrivateKeyMaterial(KeyStore);

        await using (var connection = await Tampering.Superuser(ledger.ConnectionString))
        {
            var rows = await Tampering.EveryRow(connection);
            rows.Count.ShouldBeGreaterThan(100);
            foreach (var (table, row) in rows)
                needles.Where(row.Contains).ShouldBeEmpty($"{table} holds private key material");
        }

        var directory = ledger.Host.Services.GetRequiredService<KeySettings>().Directory;
        foreach (var file in Directory.GetFiles(directory, "*.key.json"))
        {
            var text = await File.ReadAllTextAsync(file);
            needles.Where(text.Contains).ShouldBeEmpty($"{file} holds private key material in clear");
            var sealedKey = System.Text.Json.JsonSerializer.Deserialize<SealedKey>(JsonNode.Parse(text)!["private"], GovernanceLedger.Infrastructure.LedgerSetup.ApiJson)!;
            var wrongSecret = new KeyEncryption(new string('x', 40));
            Should.Throw<System.Security.Cryptography.CryptographicException>(() =>
                wrongSecret.Open(sealedKey, JsonNode.Parse(text)!["kid"]!.GetValue<string>(), JsonNode.Parse(text)!["purpose"]!.GetValue<string>()));
        }
    }

    [Fact]
    public async Task App_tokens_and_checkpoints_have_separate_keys_and_the_data_plane_refuses_a_token_signed_with_the_checkpoint_key()
    {
        var jwks = (await ledger.Get("/.well-known/jwks.json", null)).Json!["keys"]!.AsArray();
        var purposes = jwks.Select(k => (Kid: k!["kid"]!.GetValue<string>(), Purpose: k["purpose"]!.GetValue<string>())).ToList();
        purposes.ShouldContain(k => k.Purpose == KeyPurposes.AppTokens);
        purposes.ShouldContain(k => k.Purpose == KeyPurposes.Checkpoints);
        purposes.Select(k => k.Kid).ShouldBeUnique();

        var appId = await ledger.DataApp("purpose");
        var genuine = new JsonWebToken(await ledger.AppToken(appId));
        purposes.Single(k => k.Kid == genuine.Kid).Purpose.ShouldBe(KeyPurposes.AppTokens);

        var keys = ledger.Host.Services.GetRequiredService<SigningKeys>();
        string Resign(LedgerKey key) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = genuine.Issuer, Audience = genuine.Audiences.Single(), IssuedAt = genuine.IssuedAt, NotBefore = genuine.ValidFrom, Expires = genuine.ValidTo,
            Claims = new Dictionary<string, object> { ["sub"] = genuine.Subject, ["app_id"] = appId, ["scopes"] = new[] { "read:contacts" }, ["jti"] = genuine.Id },
            SigningCredentials = new SigningCredentials(key.Key, SecurityAlgorithms.RsaSha256)
        });
        (await ledger.Get("/gw/crm/contacts", Resign(await keys.ActiveAsync(KeyPurposes.AppTokens)))).Status.ShouldBe(200);
        (await ledger.Get("/gw/crm/contacts", Resign(await keys.ActiveAsync(KeyPurposes.Checkpoints)))).Status.ShouldBe(401);
    }

    [Fact]
    public async Task A_key_rotated_on_one_instance_is_used_and_published_by_another_within_seconds()
    {
        await using var second = await LedgerFixture.StartHostAsync(ledger.ConnectionString, "Development", ledger.Clock, ledger.DataPlaneSettings());
        using var client = second.Server.CreateClient();
        var appId = await ledger.ActiveApp("rotation");
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var admin = await ledger.PersonToken(Admin, "platform-admin");

        var rotated = await ledger.Post("/keys/rotate", null, admin);
        rotated.Status.ShouldBe(200, rotated.Text);
        var kid = rotated.Str("active_kid");
        var started = DateTime.UtcNow;
        await LedgerFixture.EventuallyAsync(async () => (await client.GetStringAsync("/.well-known/jwks.json")).Contains($"\"kid\":\"{kid}\""), TimeSpan.FromSeconds(5));
        await LedgerFixture.EventuallyAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/apps/{appId}/tokens");
            request.Headers.Authorization = new("Bearer", owner);
            using var response = await client.SendAsync(request);
            var token = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
            return new JsonWebToken(token).Kid == kid;
        }, TimeSpan.FromSeconds(5));
        (DateTime.UtcNow - started).ShouldBeLessThan(TimeSpan.FromSeconds(5));

        // The other way round, for the checkpoint key: rotated on the second instance, the chainer of the first signs with it.
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/keys/rotate?purpose=checkpoints"))
        {
            request.Headers.Authorization = new("Bearer", admin);
            using var response = await client.SendAsync(request);
            ((int)response.StatusCode).ShouldBe(200);
            kid = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["active_kid"]!.GetValue<string>();
        }
        var keys = ledger.Host.Services.GetRequiredService<SigningKeys>();
        await LedgerFixture.EventuallyAsync(async () => (await keys.ActiveAsync(KeyPurposes.Checkpoints)).KeyId == kid, TimeSpan.FromSeconds(5));
        await ledger.ChainedApp("rotation");
        var treeSize = await ledger.CheckpointNow();
        var file = Path.Combine(ledger.WitnessDirectory(), $"{treeSize:D20}.checkpoint.json");
        var jws = JsonNode.Parse(await File.ReadAllTextAsync(file))!["jws"]!.GetValue<string>();
        GovernanceLedger.Audit.Checkpoints.CheckpointJws.Read(jws)!.Value.KeyId.ShouldBe(kid);
        var report = await ledger.Verify();
        report.Intact.ShouldBeTrue(report.Describe());
    }

    [Fact]
    public async Task Rotation_names_an_unknown_purpose_in_a_problem()
    {
        var response = await ledger.Post("/keys/rotate?purpose=everything", null, await ledger.PersonToken(Admin, "platform-admin"));
        response.Status.ShouldBe(400);
        response.Node("errors.0.field")!.GetValue<string>().ShouldBe("purpose");
        response.Node("errors.0.rule")!.GetValue<string>().ShouldBe("enum");
    }
}

/// <summary>What an upgrade and a misconfigured production host meet.</summary>
public sealed class Key_custody_start_tests
{
    [Fact]
    public async Task Keys_an_earlier_version_kept_in_the_ledger_database_are_retired_and_their_table_dropped_on_start()
    {
        await using var ledger = await IsolatedLedger.StartAsync();
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        await Tampering.As(ledger.ConnectionString, async c =>
        {
            await Tampering.Exec(c, "create table ledger.mt_doc_signingkeyrecord (id varchar primary key, data jsonb not null)");
            await Tampering.Exec(c, "insert into ledger.mt_doc_signingkeyrecord values ('ledger-old', $1::jsonb)",
                new JsonObject { ["Id"] = "ledger-old", ["PrivateKeyPem"] = rsa.ExportPkcs8PrivateKeyPem() }.ToJsonString());
        });

        await ledger.RestartAsync();

        await using (var c = await Tampering.Superuser(ledger.ConnectionString))
            (await Tampering.Scalar<bool>(c, "select to_regclass('ledger.mt_doc_signingkeyrecord') is null")).ShouldBeTrue();
        var retired = (await ledger.StreamOf(SigningKeys.StreamId)).Select(e => e.Data).OfType<SigningKeyRetired>().Single(r => r.KeyId == "ledger-old");
        retired.Reason.ShouldNotBeNull().ShouldContain("stored in the ledger database");
        (await ledger.Get("/.well-known/jwks.json", null)).Text.ShouldNotContain("ledger-old");
        ledger.Host.Services.GetRequiredService<SigningKeys>().VerificationKeys("ledger-old").ShouldNotContain(k => k.KeyId == "ledger-old");
    }

    [Theory]
    [InlineData("secret", "GOVLEDGER_KEY_SECRET")]
    [InlineData("short-secret", "at least 32 characters")]
    [InlineData("keys", "Keys:Directory")]
    [InlineData("witness", "Audit:WitnessDirectory")]
    public async Task Outside_Development_the_host_refuses_to_start_without_its_key_store_or_witness(string missing, string named)
    {
        var scratch = Path.Combine(Path.GetTempPath(), $"govledger-prod-{Guid.NewGuid():N}");
        var settings = new Dictionary<string, string?>
        {
            ["People:Authority"] = "https://login.example.invalid/",
            ["Keys:Directory"] = missing == "keys" ? "" : Path.Combine(scratch, "keys"),
            ["Keys:Secret"] = missing == "secret" ? "" : missing == "short-secret" ? "too-short" : new string('s', 48),
            ["Audit:WitnessDirectory"] = missing == "witness" ? "" : Path.Combine(scratch, "witness")
        };
        var database = new Npgsql.NpgsqlConnectionStringBuilder(LedgerFixture.ServerConnectionString) { Database = "postgres" }.ConnectionString;
        var error = await Should.ThrowAsync<Exception>(() => LedgerFixture.StartHostAsync(database, "Production", TimeProvider.System, settings));
        error.ToString().ShouldContain(named);
        if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
    }
}
