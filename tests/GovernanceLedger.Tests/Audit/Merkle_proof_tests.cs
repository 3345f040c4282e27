using System.Text.Json.Nodes;
using GovernanceLedger.Audit;
using GovernanceLedger.Audit.Checkpoints;
using GovernanceLedger.Audit.Merkle;
using GovernanceLedger.Contracts.Access;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Tests.Audit;

/// <summary>Inclusion and consistency proofs as an auditor receives them, checked in C# and by the README's offline verifier.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Merkle_proof_tests(LedgerFixture ledger)
{
    /// <summary>Enough events that proofs use stored subtree nodes (2^8 leaves and up), not only leaves.</summary>
    private async Task Filler(int count)
    {
        await using var session = ledger.Host.Services.GetRequiredService<IDocumentStore>().LightweightSession();
        var at = ledger.Clock.GetUtcNow();
        for (var i = 0; i < count; i++)
            session.Events.Append($"access:proof-filler:{at:yyyy-MM-dd}:0", new AccessRecorded($"proof-{Guid.NewGuid():N}", "proof-filler", null, null, null,
                "gateway", "crm", "GET", "/gw/crm/contacts", 401, 1, 0, 0, "deny", "unauthenticated", null, null, null, at));
        await session.SaveChangesAsync();
    }

    private async Task<JsonNode> Json(string path)
    {
        var response = await ledger.Get(path, await ledger.PersonToken("auditor@example.com", "auditor"));
        response.Status.ShouldBe(200, response.Text);
        return response.Json!;
    }

    private async Task<SecurityKey> CheckpointKey(string jws)
    {
        var kid = CheckpointJws.Read(jws)!.Value.KeyId;
        var jwks = new JsonWebKeySet((await ledger.Get("/.well-known/jwks.json", null)).Text);
        var key = jwks.Keys.Single(k => k.Kid == kid);
        key.AdditionalData["purpose"].ToString().ShouldBe("checkpoints");
        return key;
    }

    [Fact]
    public async Task An_event_is_proven_in_signed_checkpoints_and_later_checkpoints_extend_earlier_ones_offline_too()
    {
        await Filler(600);
        var seqs = await ledger.ChainedApp("proof");
        var first = await ledger.CheckpointNow();
        await Filler(300);
        await ledger.ChainedApp("proof-later");
        var second = await ledger.CheckpointNow();
        first.ShouldBeGreaterThan(512);
        // The stored subtree nodes proofs rely on are append-only like the chain.
        await using (var connection = await Tampering.Superuser(ledger.ConnectionString))
            foreach (var sql in new[] { "update ledger.merkle_nodes set hash = '\\x00' where level = 8", "delete from ledger.merkle_nodes where level = 8" })
                (await Should.ThrowAsync<Npgsql.PostgresException>(() => Tampering.Exec(connection, sql))).MessageText.ShouldContain("append-only");
        var target = seqs[1];

        var latest = await Json($"/audit/proof/{target}");
        latest["tree_size"]!.GetValue<long>().ShouldBe(second);
        var atFirst = await Json($"/audit/proof/{target}?tree_size={first}");
        foreach (var proof in new[] { latest, atFirst })
        {
            var jws = proof["checkpoint"]!.GetValue<string>();
            CheckpointJws.SignatureValid(jws, await CheckpointKey(jws)).ShouldBeTrue();
            var statement = CheckpointJws.Read(jws)!.Value.Statement;
            var e = proof["event"]!;
            // Recomputed from what the proof shows, in the format it names: format 2 covers the id, correlation and causation ids too.
            e["format"]!.GetValue<short>().ShouldBe(HashChain.CurrentFormat);
            var content = HashChain.ContentHash(new ChainedEvent(target, e["stream"]!.GetValue<string>(), e["version"]!.GetValue<long>(),
                e["type"]!.GetValue<string>(), DateTimeOffset.Parse(e["timestamp"]!.GetValue<string>()), e["data"]!.GetValue<string>(),
                e["format"]!.GetValue<short>(), Guid.Parse(e["id"]!.GetValue<string>()), e["correlation_id"]?.GetValue<string>(),
                e["causation_id"]?.GetValue<string>()));
            var path = proof["audit_path"]!.AsArray().Select(h => Convert.FromHexString(h!.GetValue<string>())).ToList();
            MerkleTree.VerifyInclusion(target - 1, statement.TreeSize, MerkleTree.LeafHash(content), path, Convert.FromHexString(statement.Root!))
                .ShouldBeTrue();
        }

        var consistency = await Json($"/audit/consistency?from={first}&to={second}");
        var proofHashes = consistency["proof"]!.AsArray().Select(h => Convert.FromHexString(h!.GetValue<string>())).ToList();
        MerkleTree.VerifyConsistency(first, second, Convert.FromHexString(consistency["from"]!["root"]!.GetValue<string>()),
            Convert.FromHexString(consistency["to"]!["root"]!.GetValue<string>()), proofHashes).ShouldBeTrue();

        var jwksFile = await ledger.Download("/.well-known/jwks.json");
        var latestFile = await ledger.Download($"/audit/proof/{target}");
        var firstFile = await ledger.Download($"/audit/proof/{target}?tree_size={first}");
        var consistencyFile = await ledger.Download($"/audit/consistency?from={first}&to={second}");
        var (exitCode, output) = await Tampering.OfflineVerifier("--jwks", jwksFile, "--witness", ledger.WitnessDirectory(),
            "--proof", latestFile, "--proof", firstFile, "--consistency", consistencyFile);
        exitCode.ShouldBe(0, output);
        output.ShouldContain($"ok: sequence {target} ({EventType(latest)}) is in the ledger at signed checkpoint {second}");
        output.ShouldContain($"ok: sequence {target} ({EventType(latest)}) is in the ledger at signed checkpoint {first}");
        output.ShouldContain($"ok: checkpoint {second} extends checkpoint {first} (append-only)");

        // A proof whose event was altered on the way to the regulator does not check out.
        var altered = JsonNode.Parse(await File.ReadAllTextAsync(latestFile))!;
        altered["event"]!["data"] = altered["event"]!["data"]!.GetValue<string>().Replace("\"", "\"x", StringComparison.Ordinal);
        await File.WriteAllTextAsync(latestFile, altered.ToJsonString());
        (exitCode, output) = await Tampering.OfflineVerifier("--jwks", jwksFile, "--proof", latestFile);
        exitCode.ShouldBe(1, output);
        output.ShouldContain($"BROKEN at {target}: proof-invalid");

        static string EventType(JsonNode proof) => proof["event"]!["type"]!.GetValue<string>();
    }

    [Fact]
    public async Task Proof_requests_that_cannot_be_answered_get_problems_naming_the_field()
    {
        await ledger.ChainedApp("proof-errors");
        var latest = await ledger.CheckpointNow();
        var auditor = await ledger.PersonToken("auditor@example.com", "auditor");
        async Task Refused(string path, int status, string field, string rule)
        {
            var response = await ledger.Get(path, auditor);
            response.Status.ShouldBe(status, $"{path}: {response.Text}");
            response.ContentType.ShouldBe("application/problem+json");
            response.Node("errors.0.field")!.GetValue<string>().ShouldBe(field, path);
            response.Node("errors.0.rule")!.GetValue<string>().ShouldBe(rule, path);
        }
        await Refused("/audit/proof/0", 400, "seq", "minimum");
        await Refused($"/audit/proof/{latest + 1_000_000}", 409, "seq", "not-yet-checkpointed");
        await Refused($"/audit/proof/1?tree_size={latest + 7}", 400, "tree_size", "signed-checkpoint");
        await Refused("/audit/consistency", 400, "from", "required");
        await Refused($"/audit/consistency?from={latest + 7}", 400, "from", "signed-checkpoint");
        await Refused($"/audit/consistency?from={latest}&to=1", 400, "to", "minimum");
    }
}
