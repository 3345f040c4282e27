using System.Text.Json.Nodes;
using GovernanceLedger.Cli;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Spectre.Console.Testing;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Cli;

/// <summary>The govledger command line, run against the test host: what a builder types and what they read back.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Cli_tests(LedgerFixture ledger) : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("govledger-cli-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    private sealed record Run(int Exit, string Console, string Output)
    {
        public JsonNode Json => JsonNode.Parse(Output)!;
    }

    /// <summary>One govledger invocation, as a person in a shell: the config file is this test's, the ledger the test host.</summary>
    private Task<Run> Govledger(params string[] args) => GovledgerWith(null, args);

    private async Task<Run> GovledgerWith(HttpClient? identity, params string[] args)
    {
        var console = new TestConsole().Width(250);
        var output = new StringWriter();
        var session = new CliSession(ledger.Host.Server.CreateClient(), console, output, Path.Combine(_home, "config.json"), identity);
        var exit = await GovLedgerCli.RunAsync(args, session);
        return new Run(exit, console.Output, output.ToString());
    }

    [Fact]
    public async Task The_quick_start_goes_from_nothing_to_rows_in_five_commands()
    {
        (await Govledger("login", Owner, "--region", "EMEA")).Exit.ShouldBe(0);
        var saved = JsonNode.Parse(File.ReadAllText(Path.Combine(_home, "config.json")))!["token"]!.GetValue<string>().Split('.')[1];
        System.Text.Encoding.UTF8.GetString(Microsoft.IdentityModel.Tokens.Base64UrlEncoder.DecodeBytes(saved)).ShouldContain("EMEA");
        var appId = NewAppId("quick");
        var folder = Path.Combine(_home, "quick");
        var init = await Govledger("init", "sales-lookup", "--dir", folder, "--app-id", appId, "--read-only");
        init.Exit.ShouldBe(0, init.Console);
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "manifest.json")))!;
        manifest["owner"]!.GetValue<string>().ShouldBe(Owner);
        manifest["scopes"]!.AsArray().Select(s => s!.GetValue<string>()).ShouldNotContain(s => s.StartsWith("write:"));
        File.ReadAllText(Path.Combine(folder, "app.sh")).ShouldContain($"/apps/{appId}/tokens");

        var validate = await Govledger("validate", "-f", Path.Combine(folder, "manifest.json"));
        validate.Exit.ShouldBe(0, validate.Console);
        validate.Console.ShouldContain("approve it at once");
        var register = await Govledger("register", "-f", Path.Combine(folder, "manifest.json"));
        register.Exit.ShouldBe(0, register.Console);
        register.Console.ShouldContain($"{appId} is active");

        var query = await Govledger("query", "customers", "--app", appId, "--fields", "customer_id,name,region", "--limit", "5");
        query.Exit.ShouldBe(0, query.Console);
        query.Console.ShouldContain("EMEA", customMessage: query.Console);
        query.Console.ShouldContain("5 row(s)");
        var json = await Govledger("query", "customers", "--app", appId, "--fields", "customer_id,region", "--limit", "5", "--json");
        json.Exit.ShouldBe(0);
        json.Json["rows"]!.AsArray().Count.ShouldBe(5);
        json.Json["rows"]!.AsArray().ShouldAllBe(r => r!["region"]!.GetValue<string>() == "EMEA");

        // The token alone on standard output, for APP_TOKEN=$(govledger token ...).
        var token = await Govledger("token", appId);
        token.Exit.ShouldBe(0);
        token.Output.Trim().Split('.').Length.ShouldBe(3);
    }

    [Fact]
    public async Task A_refusal_says_what_to_change_and_the_fixed_manifest_is_resubmitted()
    {
        (await Govledger("login", Owner)).Exit.ShouldBe(0);
        var appId = NewAppId("clifix");
        var file = Path.Combine(_home, "manifest.json");
        File.WriteAllText(file, ExampleManifest(appId).With("scopes", Strings("read:customers")).With("connectors", Strings("postgres:salesdb"))
            .With("datasets", Datasets(("customers", ["customer_id", "email"]))).ToJsonString());

        var dry = await Govledger("validate", "-f", file);
        dry.Exit.ShouldBe(ExitCodes.Refused);
        dry.Console.ShouldContain("pii-requires-scope");
        dry.Console.ShouldContain("Add the read:pii scope");

        var refused = await Govledger("register", "-f", file);
        refused.Exit.ShouldBe(ExitCodes.Refused);
        refused.Console.ShouldContain("was refused by pii-requires-scope");
        refused.Console.ShouldContain("govledger register --resubmit");

        File.WriteAllText(file, ExampleManifest(appId).With("scopes", Strings("read:customers")).With("connectors", Strings("postgres:salesdb"))
            .With("datasets", Datasets(("customers", ["customer_id", "segment"]))).ToJsonString());
        var resubmitted = await Govledger("register", "-f", file, "--resubmit", "--json");
        resubmitted.Exit.ShouldBe(0, resubmitted.Output);
        resubmitted.Json["status"]!.GetValue<string>().ShouldBe("active");

        // Before it was approved, the app could be tried in the sandbox (here after: the sandbox serves any app).
        // The data plane's directory picks the new manifest up within a poll (a quarter second).
        Run sandboxed = null!;
        await LedgerFixture.Eventually(async () =>
            (sandboxed = await Govledger("query", "customers", "--app", appId, "--fields", "customer_id,segment", "--sandbox", "--json")).Exit == 0);
        sandboxed.Json["sandbox"]!.GetValue<bool>().ShouldBeTrue();

        var shown = await Govledger("apps", "show", appId);
        shown.Console.ShouldContain("manifest_version");
        var timeline = await Govledger("audit", "timeline", appId);
        timeline.Console.ShouldContain("manifest_resubmitted");
        timeline.Console.ShouldContain("app_rejected");

        (await Govledger("apps", "pause", appId)).Exit.ShouldBe(ExitCodes.Refused);
        var paused = await Govledger("apps", "pause", appId, "--reason", "checking a report", "--json");
        paused.Exit.ShouldBe(0, paused.Output);
        paused.Json["status"]!.GetValue<string>().ShouldBe("paused");
        (await Govledger("apps", "show", "no-such-app-anywhere", "--json")).Exit.ShouldBe(ExitCodes.NotFound);
    }

    [Fact]
    public async Task Tables_for_people_json_for_scripts_and_exit_codes_that_say_what_happened()
    {
        var signedOut = await Govledger("apps", "list");
        signedOut.Exit.ShouldBe(ExitCodes.NotAllowed);
        signedOut.Console.ShouldContain("govledger login");
        (await Govledger("no-such-command")).Exit.ShouldNotBe(0);

        (await Govledger("login", "new.builder@example.com")).Exit.ShouldBe(0);
        var datasets = await Govledger("datasets");
        datasets.Exit.ShouldBe(0);
        datasets.Console.ShouldContain("customers (production)");
        datasets.Console.ShouldContain("email*");
        datasets.Console.ShouldContain("POST /data/customers/query");
        var templates = await Govledger("templates", "--json");
        templates.Json.AsArray().Select(t => t!["id"]!.GetValue<string>()).ShouldContain("sales-lookup");

        (await Govledger("login", "finance.person@example.com", "--role", "finance")).Exit.ShouldBe(0);
        var csv = await Govledger("chargeback", "--by", "owner", "--csv");
        csv.Exit.ShouldBe(0, csv.Console);
        csv.Output.ShouldStartWith("owner,requests,rows,megabytes,compute_seconds,amount_");
        (await Govledger("chargeback", "--month", "2026-13")).Exit.ShouldBe(ExitCodes.Refused);

        (await Govledger("rebuild")).Exit.ShouldBe(ExitCodes.NotAllowed);
        (await Govledger("login", "admin.person@example.com", "--role", "platform-admin")).Exit.ShouldBe(0);
        var rebuilt = await Govledger("rebuild");
        rebuilt.Exit.ShouldBe(0, rebuilt.Console);
        rebuilt.Console.ShouldContain("rebuilt app catalog");
        rebuilt.Console.ShouldContain("swapped");
        (await Govledger("login", "auditor.person@example.com", "--role", "auditor")).Exit.ShouldBe(0);
        var verify = await Govledger("audit", "verify", "--json");
        verify.Exit.ShouldBe(0, verify.Output);
        verify.Json["intact"]!.GetValue<bool>().ShouldBeTrue();
        var export = await Govledger("audit", "export", "-o", Path.Combine(_home, "chain.ndjson"));
        export.Exit.ShouldBe(0, export.Console);
        File.ReadLines(Path.Combine(_home, "chain.ndjson")).ShouldNotBeEmpty();
    }

    [Fact]
    public async Task Device_code_sign_in_polls_the_identity_provider_and_keeps_only_a_token_the_ledger_accepts()
    {
        var issued = await ledger.PersonToken(Owner, "app-owner");
        var polls = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var idp = builder.Build();
        string Base() => idp.Urls.First();
        idp.MapGet("/.well-known/openid-configuration", () => Results.Json(new
        {
            issuer = Base(), device_authorization_endpoint = Base() + "/device", token_endpoint = Base() + "/token"
        }));
        idp.MapPost("/device", () => Results.Json(new
        {
            device_code = "dev-123", user_code = "WDJB-MJHT", verification_uri = Base() + "/activate", expires_in = 60, interval = 0
        }));
        idp.MapPost("/token", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            if (form["device_code"] != "dev-123" || form["grant_type"] != "urn:ietf:params:oauth:grant-type:device_code" || form["client_id"] != "govledger-cli")
                return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
            // The person enters the code on the third poll.
            return ++polls < 3 ? Results.Json(new { error = "authorization_pending" }, statusCode: 400) : Results.Json(new { access_token = issued, token_type = "Bearer" });
        });
        await idp.StartAsync();
        using var outside = new HttpClient();

        var signedIn = await GovledgerWith(outside, "login", "--device", "--issuer", Base());
        signedIn.Exit.ShouldBe(0, signedIn.Console);
        signedIn.Console.ShouldContain("WDJB-MJHT");
        polls.ShouldBe(3);
        (await Govledger("apps", "list")).Exit.ShouldBe(0);

        // A token the ledger does not accept (another issuer, another audience) is not kept; the sign-in before it stands.
        (polls, issued) = (0, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.");
        var refused = await GovledgerWith(outside, "login", "--device", "--issuer", Base());
        refused.Exit.ShouldBe(ExitCodes.NotAllowed);
        refused.Console.ShouldContain("does not accept");
        (await Govledger("apps", "list")).Exit.ShouldBe(0);
        // Without an identity provider named anywhere, it says what to do.
        (await Govledger("login", "--device")).Console.ShouldContain("names no identity provider");
    }
}
