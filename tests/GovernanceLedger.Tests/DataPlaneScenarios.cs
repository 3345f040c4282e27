using Microsoft.Extensions.DependencyInjection;
using System.Text.Json.Nodes;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests;

/// <summary>Apps and app tokens for data-plane tests.</summary>
public static class DataPlaneScenarios
{
    /// <summary>The group every test end user belongs to, and every data app serves.</summary>
    public const string EndUsers = "test-end-users";

    /// <summary>An app on the CRM route and the sales datasets, with PII granted.</summary>
    public static Task<string> DataApp(this LedgerFixture ledger, string prefix, JsonObject? quotas = null, params string[] extraScopes) =>
        ledger.DataAppWith(prefix, quotas, null, extraScopes);

    /// <summary>The same app with other dataset grants.</summary>
    public static async Task<string> DataAppWith(this LedgerFixture ledger, string prefix, JsonObject? quotas, JsonNode? datasets, params string[] extraScopes)
    {
        var appId = NewAppId(prefix);
        var manifest = ExampleManifest(appId)
            .With("scopes", Strings(["read:contacts", "read:customers", "read:sales_data", "read:pii", .. extraScopes]))
            .With("connectors", Strings("postgres:salesdb", "crm:contacts"))
            .With("datasets", datasets ?? Datasets(
                ("customers", ["customer_id", "name", "email", "phone", "region"]),
                ("sales_data", ["order_id", "customer_id", "region", "amount"])));
        if (quotas is not null) manifest["quotas"] = quotas;
        manifest["audience"] = new JsonObject { ["groups"] = Strings(EndUsers) };
        var registered = await ledger.Register(manifest);
        registered.Status.ShouldBe(201, registered.Text);
        if (registered.Str("status") == "pending_review")
        {
            // Write scopes route the app to review; two distinct reviewers cover the broadest case.
            foreach (var reviewer in new[] { Reviewer, SecondReviewer })
            {
                var decided = await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"test data app"}""",
                    await ledger.PersonToken(reviewer, "security-reviewer"));
                if (decided.Str("status") == "active") break;
            }
        }
        (await ledger.Get($"/apps/{appId}", await ledger.PersonToken(Admin, "platform-admin"))).Str("status").ShouldBe("active");
        // The data plane learns of the app through its directory, which polls the catalog.
        var directory = ledger.Host.Services.GetRequiredService<GovernanceLedger.DataPlane.AppDirectory>();
        await LedgerFixture.Eventually(() => Task.FromResult(directory.Find(appId)?.Status == "active"));
        return appId;
    }

    /// <summary>An app on the analytics warehouse's customers_sanitized, approved at once, for the test end users.</summary>
    public static async Task<string> AnalyticsApp(this LedgerFixture ledger, string prefix, JsonObject? quotas = null, params string[] fields)
    {
        var manifest = ExampleManifest(NewAppId(prefix))
            .With("scopes", Strings("read:analytics"))
            .With("connectors", Strings("bigquery:analytics"))
            .With("datasets", Datasets(("customers_sanitized", fields.Length > 0 ? fields : ["customer_id", "email_hash", "country"])));
        if (quotas is null) return await ledger.ServedApp(manifest);
        // Quotas above the defaults are a reviewer's call.
        manifest["quotas"] = quotas;
        manifest["audience"] = new JsonObject { ["groups"] = Strings(EndUsers) };
        var registered = await ledger.Register(manifest);
        registered.Status.ShouldBe(201, registered.Text);
        var appId = registered.Str("app_id");
        if (registered.Str("status") == "pending_review")
            (await ledger.Post($"/apps/{appId}/approvals", """{"decision":"approve","reason":"test analytics app"}""",
                await ledger.PersonToken(Reviewer, "security-reviewer"))).Str("status").ShouldBe("active");
        var directory = ledger.Host.Services.GetRequiredService<GovernanceLedger.DataPlane.AppDirectory>();
        await LedgerFixture.Eventually(() => Task.FromResult(directory.Find(appId)?.Status == "active"));
        return appId;
    }

    /// <summary>
    /// Registers a manifest that is approved at once, for the test end users, and waits until the data plane
    /// knows it as active.
    /// </summary>
    public static async Task<string> ServedApp(this LedgerFixture ledger, JsonObject manifest)
    {
        manifest["audience"] ??= new JsonObject { ["groups"] = Strings(EndUsers) };
        var registered = await ledger.Register(manifest);
        registered.Str("status").ShouldBe("active", registered.Text);
        var appId = registered.Str("app_id");
        var directory = ledger.Host.Services.GetRequiredService<GovernanceLedger.DataPlane.AppDirectory>();
        await LedgerFixture.Eventually(() => Task.FromResult(directory.Find(appId)?.Status == "active"));
        return appId;
    }

    /// <summary>
    /// An app token for an end user in a region, optionally narrowed to some scopes. The end user signed in with a second
    /// factor (amr mfa), as the reveal policy asks before PII is shown; <see cref="AppTokenWithoutMfa"/> is the other case.
    /// </summary>
    public static Task<string> AppToken(this LedgerFixture ledger, string appId, string? region = "EMEA", params string[] scopes) =>
        AppTokenFor(ledger, appId, $"user-{Guid.NewGuid():N}@example.com", region, true, scopes);

    public static Task<string> AppTokenWithoutMfa(this LedgerFixture ledger, string appId, string? region = "EMEA") =>
        AppTokenFor(ledger, appId, $"user-{Guid.NewGuid():N}@example.com", region, false);

    /// <summary>An app token for a named end user, with or without a second factor at sign-in.</summary>
    public static async Task<string> AppTokenFor(this LedgerFixture ledger, string appId, string user, string? region, bool mfa, params string[] scopes)
    {
        var person = new JsonObject { ["sub"] = user, ["roles"] = Strings(), ["groups"] = Strings(EndUsers) };
        if (mfa) person["amr"] = Strings("pwd", "mfa");
        if (region is not null) person["region"] = region;
        var signedIn = await ledger.PersonToken(person);
        var body = scopes.Length > 0 ? new JsonObject { ["scopes"] = Strings(scopes) }.ToJsonString() : null;
        var issued = await ledger.Post($"/apps/{appId}/tokens", body, signedIn);
        issued.Status.ShouldBe(200, issued.Text);
        return issued.Str("access_token");
    }
}
