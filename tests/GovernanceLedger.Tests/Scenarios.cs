using System.Text.Json.Nodes;

namespace GovernanceLedger.Tests;

/// <summary>Manifests and people used across tests; every test makes its own app ids.</summary>
public static class Scenarios
{
    public const string Owner = "sales_ops@example.com";
    public const string Reviewer = "reviewer.one@example.com";
    public const string SecondReviewer = "reviewer.two@example.com";
    public const string Admin = "platform.admin@example.com";

    public static string NewAppId(string prefix = "app") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(40, prefix.Length + 13)];

    /// <summary>The product's own example manifest, as written, with a fresh app id.</summary>
    public static JsonObject ExampleManifest(string appId) => new()
    {
        ["app_id"] = appId,
        ["owner"] = Owner,
        ["scopes"] = new JsonArray("read:contacts", "read:sales_metrics"),
        ["connectors"] = new JsonArray("postgres:salesdb", "bigquery:analytics"),
        ["data_retention_days"] = 30
    };

    public static JsonObject With(this JsonObject manifest, string key, JsonNode? value)
    {
        manifest[key] = value;
        return manifest;
    }

    public static JsonArray Datasets(params (string Name, string[] Fields)[] datasets) =>
        new(datasets.Select(d => (JsonNode?)new JsonObject
        {
            ["name"] = d.Name,
            ["fields"] = new JsonArray(d.Fields.Select(f => (JsonNode?)f).ToArray())
        }).ToArray());

    public static JsonArray Strings(params string[] items) => new(items.Select(i => (JsonNode?)i).ToArray());

    public static async Task<ApiResponse> Register(this LedgerFixture ledger, JsonObject manifest, string? token = null)
    {
        token ??= await ledger.PersonToken(Owner, "app-owner");
        return await ledger.Post("/apps", manifest.ToJsonString(), token);
    }

    /// <summary>Registers the example manifest (auto-approved) and returns its id; audience people may use it besides its owner.</summary>
    public static async Task<string> ActiveApp(this LedgerFixture ledger, string prefix = "active", params string[] audience)
    {
        var appId = NewAppId(prefix);
        var manifest = ExampleManifest(appId);
        if (audience.Length > 0) manifest["audience"] = new JsonObject { ["people"] = Strings(audience) };
        var response = await ledger.Register(manifest);
        response.Status.ShouldBe(201, response.Text);
        response.Str("status").ShouldBe("active");
        return appId;
    }

    /// <summary>A manifest that production-writes-need-review routes to one reviewer.</summary>
    public static JsonObject ReviewManifest(string appId) => ExampleManifest(appId)
        .With("scopes", Strings("read:customers", "write:interactions"))
        .With("connectors", Strings("postgres:salesdb"));

    /// <summary>Write plus PII: broad-requests-need-two-approvers asks for two reviewers.</summary>
    public static JsonObject BroadManifest(string appId) => ExampleManifest(appId)
        .With("scopes", Strings("read:customers", "read:pii", "write:interactions"))
        .With("connectors", Strings("postgres:salesdb"))
        .With("datasets", Datasets(("customers", ["customer_id", "email"])));
}
