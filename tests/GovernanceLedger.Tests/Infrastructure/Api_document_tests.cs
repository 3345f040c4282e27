using System.Text.Json.Nodes;

namespace GovernanceLedger.Tests.Infrastructure;

/// <summary>The OpenAPI document is one clients can be generated from: every operation says who may call it, what it does, and how it fails.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Api_document_tests(LedgerFixture ledger)
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];

    [Fact]
    public async Task Every_operation_declares_its_security_a_summary_and_its_problem_responses()
    {
        var document = (await ledger.Get("/openapi/v1.json", null)).Json!;
        var schemes = document["components"]!["securitySchemes"]!.AsObject();
        schemes["people"]!["scheme"]!.GetValue<string>().ShouldBe("bearer");
        schemes["app"]!["scheme"]!.GetValue<string>().ShouldBe("bearer");

        var faults = new List<string>();
        var operations = 0;
        foreach (var (path, item) in document["paths"]!.AsObject())
            foreach (var (method, node) in item!.AsObject().Where(m => Methods.Contains(m.Key)))
            {
                operations++;
                var operation = node!.AsObject();
                var name = $"{method.ToUpperInvariant()} {path}";
                if (operation["summary"]?.GetValue<string>() is not { Length: > 0 }) faults.Add($"{name}: no summary");
                if (operation["operationId"] is null) faults.Add($"{name}: no operationId");
                if (operation["security"] is not JsonArray security) { faults.Add($"{name}: no security"); continue; }
                var responses = operation["responses"]!.AsObject();
                if (!responses.Any(r => r.Key.StartsWith('2') || r.Key.StartsWith('3'))) faults.Add($"{name}: no success response");
                // Anyone may call the public ones (JWKS, health...); every other one can be refused, and says so.
                if (security.Count == 0) continue;
                foreach (var status in new[] { "401", "403" })
                    if (responses[status]?["content"]?["application/problem+json"] is null) faults.Add($"{name}: no problem+json {status}");
                if ((operation["requestBody"] is not null || operation["parameters"] is JsonArray { Count: > 0 })
                    && responses["400"]?["content"]?["application/problem+json"] is null) faults.Add($"{name}: no problem+json 400");
            }
        operations.ShouldBeGreaterThan(40);
        // The resubmission and the dry run are described too, in words.
        document["paths"]!["/apps/validate"]!["post"]!["summary"]!.GetValue<string>().ShouldNotContain("POST_");
        faults.ShouldBeEmpty(string.Join("\n", faults));
    }
}
