using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Apps;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Apps;

/// <summary>Packages and models in the manifest (or its SBOM), checked against the advisory snapshot and the licence lists.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Supply_chain_tests(LedgerFixture ledger)
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static bool _sampleImported;

    private static JsonObject Sample() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "osv", "sample-snapshot.json")))!.AsObject();

    /// <summary>The shipped sample snapshot, imported once for every test here (later snapshots add to it).</summary>
    private async Task<string> AdminWithSampleAsync()
    {
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        await Gate.WaitAsync();
        try
        {
            if (!_sampleImported)
            {
                var imported = await ledger.Post("/supply-chain/advisories", Sample().ToJsonString(), admin);
                imported.Status.ShouldBe(201, imported.Text);
                imported.Node("advisories")!.GetValue<int>().ShouldBe(5);
                _sampleImported = true;
            }
        }
        finally
        {
            Gate.Release();
        }
        return admin;
    }

    private static JsonObject WithPackages(string appId, params (string Ecosystem, string Name, string Version, string? License)[] packages) =>
        ExampleManifest(appId).With("dependencies", new JsonObject
        {
            ["packages"] = new JsonArray(packages.Select(p =>
            {
                var package = new JsonObject { ["ecosystem"] = p.Ecosystem, ["name"] = p.Name, ["version"] = p.Version };
                if (p.License is not null) package["license"] = p.License;
                return (JsonNode)package;
            }).ToArray())
        });

    [Fact]
    public async Task A_critical_vulnerability_refuses_the_app_a_high_one_routes_it_to_security_and_a_fixed_version_passes()
    {
        await AdminWithSampleAsync();
        var refused = await ledger.Register(WithPackages(NewAppId("log4shell"), ("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1", "Apache-2.0")));
        refused.Status.ShouldBe(422, refused.Text);
        var error = refused.Json!["errors"]!.AsArray().Single(e => e!["rule"]!.GetValue<string>() == "supply-chain-no-critical-vulnerabilities")!;
        error["field"]!.GetValue<string>().ShouldContain("GHSA-jfh8-c2jp-5v3q (CRITICAL) in Maven org.apache.logging.log4j:log4j-core@2.14.1, fixed in 2.15.0");
        error["message"]!.GetValue<string>().ShouldContain("Upgrade each named package");

        var reviewed = await ledger.Register(WithPackages(NewAppId("old-lodash"), ("npm", "lodash", "4.17.15", "MIT")));
        reviewed.Str("status").ShouldBe("pending_review", reviewed.Text);
        var finding = reviewed.Node("findings")!.AsArray().Single(f => f!["policy_id"]!.GetValue<string>() == "supply-chain-vulnerabilities-need-review")!;
        finding["outcome"]!.GetValue<string>().ShouldBe("review");
        finding["findings"]![0]!.GetValue<string>().ShouldContain("GHSA-p6mc-m468-83gw (HIGH) in npm lodash@4.17.15, fixed in 4.17.19");

        // Versions outside every range pass: the fix, and one before the advisory's introduction.
        (await ledger.Register(WithPackages(NewAppId("new-log4j"), ("Maven", "org.apache.logging.log4j:log4j-core", "2.17.1", "Apache-2.0"),
            ("npm", "lodash", "4.17.21", "MIT"), ("PyPI", "Requests", "2.31.0", "Apache-2.0")))).Str("status").ShouldBe("active");
        (await ledger.Register(WithPackages(NewAppId("ancient-lodash"), ("npm", "lodash", "3.6.0", "MIT")))).Str("status").ShouldBe("active");
    }

    [Fact]
    public async Task A_new_advisory_blocks_the_approval_of_a_waiting_app_and_raises_an_anomaly_on_a_running_one()
    {
        var admin = await AdminWithSampleAsync();
        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");
        // Both use a package no advisory names yet. One is running; the other waits for review (it reads PII).
        var running = NewAppId("uses-parser");
        (await ledger.Register(WithPackages(running, ("npm", "fast-csv-parse", "2.1.0", "MIT")))).Str("status").ShouldBe("active");
        var waiting = NewAppId("waits-parser");
        var pending = await ledger.Register(WithPackages(waiting, ("npm", "fast-csv-parse", "2.1.0", "MIT"))
            .With("scopes", Strings("read:customers", "read:pii")).With("connectors", Strings("postgres:salesdb"))
            .With("datasets", Datasets(("customers", ["customer_id", "email"]))));
        pending.Str("status").ShouldBe("pending_review", pending.Text);

        // The platform imports a snapshot with one more advisory, a critical one on that package.
        var snapshot = Sample();
        snapshot["source"] = "sample plus a test advisory";
        snapshot["advisories"]!.AsArray().Add(JsonNode.Parse("""
            {"id":"TEST-2026-0042","aliases":[],"summary":"fast-csv-parse runs formulas found in cells",
             "affected":[{"package":{"ecosystem":"npm","name":"fast-csv-parse"},"ranges":[{"type":"SEMVER","events":[{"introduced":"2.0.0"},{"fixed":"2.1.1"}]}]}],
             "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}
            """));
        var imported = await ledger.Post("/supply-chain/advisories", snapshot.ToJsonString(), admin);
        imported.Status.ShouldBe(201, imported.Text);
        (await ledger.Get("/supply-chain/advisories", reviewer)).Node("advisories")!.AsArray()
            .Single(a => a!["id"]!.GetValue<string>() == "TEST-2026-0042")!["severity"]!.GetValue<string>().ShouldBe("CRITICAL", "CVSS 9.8 is critical");

        var blocked = await ledger.Post($"/apps/{waiting}/approvals", """{"decision":"approve","reason":"looks fine"}""", reviewer);
        blocked.Status.ShouldBe(409, blocked.Text);
        blocked.Json!["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe("supply-chain-critical");
        blocked.Text.ShouldContain("TEST-2026-0042 in fast-csv-parse@2.1.0 (fixed in 2.1.1)");

        // The running app gets an anomaly on its own timeline, from the advisory policy, and keeps running (alert).
        IReadOnlyList<JasperFx.Events.IEvent> stream = [];
        await LedgerFixture.Eventually(async () =>
        {
            stream = await ledger.StreamOf(running);
            return stream.Any(e => e.Data is AnomalyDetected);
        });
        var anomaly = stream.Select(e => e.Data).OfType<AnomalyDetected>().Single();
        anomaly.PolicyId.ShouldBe("supply-chain-new-advisory");
        anomaly.Action.ShouldBe("alert");
        anomaly.Findings.ShouldContain(f => f.Contains("TEST-2026-0042 (CRITICAL) affects npm fast-csv-parse@2.1.0, fixed in 2.1.1"));
        (await ledger.Get($"/apps/{running}", admin)).Str("status").ShouldBe("active");
    }

    [Fact]
    public async Task A_licence_on_the_deny_list_blocks_the_app_whether_declared_or_in_an_sbom()
    {
        await AdminWithSampleAsync();
        var model = await ledger.Register(ExampleManifest(NewAppId("nc-model")).With("dependencies", JsonNode.Parse(
            """{"models":[{"name":"summarizer-small","version":"3","license":"CC-BY-NC-4.0","provider":"example"}]}""")));
        model.Status.ShouldBe(422, model.Text);
        model.Json!["errors"]!.AsArray().ShouldContain(e => e!["rule"]!.GetValue<string>() == "supply-chain-licenses-allowed"
            && e["field"]!.GetValue<string>().Contains("model summarizer-small@3 is licensed CC-BY-NC-4.0"));

        var cyclone = await ledger.Register(ExampleManifest(NewAppId("agpl-sbom")).With("sbom", JsonNode.Parse("""
            {"bomFormat":"CycloneDX","specVersion":"1.5","components":[
              {"type":"library","name":"chartlib","version":"1.0.0","purl":"pkg:npm/chartlib@1.0.0","licenses":[{"license":{"id":"MIT"}}]},
              {"type":"library","name":"@acme/grid","version":"2.2.0","purl":"pkg:npm/%40acme/grid@2.2.0","licenses":[{"expression":"MIT OR AGPL-3.0-only"}]}]}
            """)));
        cyclone.Status.ShouldBe(422, cyclone.Text);
        cyclone.Text.ShouldContain("npm:@acme/grid@2.2.0 is licensed AGPL-3.0-only");

        // An SPDX SBOM with allowed licences: its packages become the app's dependencies, and the catalog shows them.
        var spdxApp = NewAppId("spdx-sbom");
        var spdx = await ledger.Register(ExampleManifest(spdxApp).With("sbom", JsonNode.Parse("""
            {"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app","packages":[
              {"SPDXID":"SPDXRef-1","name":"requests","versionInfo":"2.32.3","licenseConcluded":"Apache-2.0",
               "externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:pypi/requests@2.32.3"}]}]}
            """)));
        spdx.Str("status").ShouldBe("active", spdx.Text);
        var entry = await ledger.Get($"/apps/{spdxApp}", await ledger.PersonToken(Admin, "platform-admin"));
        entry.Node("dependencies")!["sbom"]!.GetValue<string>().ShouldBe("SPDX-2.3");
        entry.Node("dependencies")!["packages"]![0]!["name"]!.GetValue<string>().ShouldBe("requests");

        // What cannot be read is refused by field: a purl without a version, an SBOM of neither format.
        var badPurl = await ledger.Register(ExampleManifest(NewAppId("bad-purl")).With("sbom", JsonNode.Parse(
            """{"bomFormat":"CycloneDX","components":[{"name":"x","purl":"pkg:npm/x"}]}""")));
        badPurl.Status.ShouldBe(400);
        badPurl.Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("sbom.components[0].purl");
        (await ledger.Register(ExampleManifest(NewAppId("odd-sbom")).With("sbom", new JsonObject { ["format"] = "mine" })))
            .Json!["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe("sbom-format");
    }

    [Fact]
    public async Task Only_a_platform_admin_imports_advisories_and_a_record_that_is_not_osv_refuses_the_whole_snapshot()
    {
        var admin = await AdminWithSampleAsync();
        var before = (await ledger.Get("/supply-chain/advisories", admin)).Node("version")!.GetValue<int>();
        var owner = await ledger.PersonToken(Owner, "app-owner");
        (await ledger.Post("/supply-chain/advisories", Sample().ToJsonString(), owner)).Status.ShouldBe(403);
        (await ledger.Post("/supply-chain/advisories", Sample().ToJsonString(), null)).Status.ShouldBe(401);

        var broken = Sample();
        broken["advisories"]!.AsArray().Add(JsonNode.Parse("""{"summary":"no id","affected":[]}"""));
        var refused = await ledger.Post("/supply-chain/advisories", broken.ToJsonString(), admin);
        refused.Status.ShouldBe(400, refused.Text);
        refused.Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("advisories[5].id");
        (await ledger.Post("/supply-chain/advisories", """{"advisories":[]}""", admin)).Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("source");
        (await ledger.Get("/supply-chain/advisories", admin)).Node("version")!.GetValue<int>().ShouldBe(before, "nothing of a refused import is recorded");
    }

    [Fact]
    public async Task Spelling_tricks_do_not_get_a_package_or_licence_past_the_checks()
    {
        await AdminWithSampleAsync();
        async Task<ApiResponse> Validate(JsonObject manifest) =>
            await ledger.Post("/apps/validate", manifest.ToJsonString(), await ledger.PersonToken(Owner, "app-owner"));
        JsonObject Sbom(string components) => ExampleManifest(NewAppId("trick")).With("sbom", JsonNode.Parse(
            $$"""{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{{components}}]}"""));

        // An empty purl segment is dropped (the specification's rule): still Log4Shell. Nested components are read.
        var emptySegment = await Validate(Sbom("""{"type":"library","name":"x","purl":"pkg:maven/org.apache.logging.log4j//log4j-core@2.14.1"}"""));
        emptySegment.Str("would_be").ShouldBe("rejected", emptySegment.Text);
        var nested = await Validate(Sbom("""{"type":"application","name":"app","purl":"pkg:npm/app@1.0.0","components":[{"type":"library","name":"l","purl":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}]}"""));
        nested.Str("would_be").ShouldBe("rejected", nested.Text);
        // Software without a purl cannot be matched, so it is refused, not waved through.
        var noPurl = await Validate(Sbom("""{"type":"library","group":"org.apache.logging.log4j","name":"log4j-core","version":"2.14.1"}"""));
        noPurl.Node("errors")![0]!["rule"]!.GetValue<string>().ShouldBe("purl-required", noPurl.Text);
        (await Validate(Sbom("""{"type":"library","name":"x","purl":"pkg:npm/%40x/../lodash@4.17.15"}"""))).Node("errors")![0]!["rule"]!.GetValue<string>().ShouldBe("purl");
        // Names compare without case.
        (await Validate(WithPackages(NewAppId("case"), ("Maven", "org.apache.logging.log4j:Log4j-Core", "2.14.1", "Apache-2.0")))).Str("would_be").ShouldBe("rejected");

        // Licence spellings: case, the "+" form, lists, other dashes all meet the deny list; names nobody listed go to review.
        foreach (var license in new[] { "agpl-3.0-only", "AGPL-3.0+", "MIT,AGPL-3.0-only", "AGPL\u20133.0-only" })
        {
            var denied = await Validate(WithPackages(NewAppId("lic"), ("npm", "foo", "1.0.0", System.Text.RegularExpressions.Regex.Unescape(license))));
            denied.Str("would_be").ShouldBe("rejected", license);
        }
        foreach (var license in new[] { "GNU Affero General Public License v3.0", "LicenseRef-AGPL" })
        {
            var reviewed = await Validate(WithPackages(NewAppId("lic"), ("npm", "foo", "1.0.0", license)));
            reviewed.Str("would_be").ShouldBe("pending_review", license);
            reviewed.Node("findings")!.AsArray().ShouldContain(f => f!["policy_id"]!.GetValue<string>() == "supply-chain-licenses-need-review" && f["outcome"]!.GetValue<string>() == "review");
        }
        // A blank model licence is no licence.
        var blank = await Validate(ExampleManifest(NewAppId("blank")).With("dependencies", JsonNode.Parse("""{"models":[{"name":"m","version":"1","license":"  "}]}""")));
        blank.Node("findings")!.AsArray().ShouldContain(f => f!["policy_id"]!.GetValue<string>() == "supply-chain-models-need-a-licence" && f["outcome"]!.GetValue<string>() == "review");
    }
}
