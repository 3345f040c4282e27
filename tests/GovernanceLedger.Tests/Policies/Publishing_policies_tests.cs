using GovernanceLedger.Contracts.Policies;
using GovernanceLedger.Policies;
using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace GovernanceLedger.Tests.Policies;

[Collection(LedgerCollection.Name)]
public sealed class Publishing_policies_tests(LedgerFixture ledger) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("policies-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private PolicyPublisher Publisher(PolicyEngine engine)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Policies:Directory"] = _directory }).Build();
        return new PolicyPublisher(ledger.Host.Services.GetRequiredService<IDocumentStore>(), engine, configuration,
            ledger.Host.Services.GetRequiredService<IHostEnvironment>(), ledger.Clock, NullLogger<PolicyPublisher>.Instance);
    }

    private void CopyShippedPolicies()
    {
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "policies"), "*.policy.yaml"))
            File.Copy(file, Path.Combine(_directory, Path.GetFileName(file)));
    }

    private static string Policy(string id, string findings) => $"""
        id: {id}
        title: test policy
        owner: tests@example.com
        effect: review
        findings: "{findings}"
        reason: test reason
        """;

    private async Task<List<object>> StreamOf(string policyId)
    {
        await using var session = ledger.Host.Services.GetRequiredService<IDocumentStore>().QuerySession();
        return (await session.Events.FetchStreamAsync(PolicyPublisher.StreamFor(policyId))).Select(e => e.Data).ToList();
    }

    [Fact]
    public async Task A_changed_policy_file_is_published_as_the_next_version_and_an_unchanged_one_is_not()
    {
        CopyShippedPolicies();
        var id = $"test-{Guid.NewGuid():N}"[..20];
        var path = Path.Combine(_directory, $"{id}.policy.yaml");
        File.WriteAllText(path, Policy(id, "manifest.generated_by == 'agent'"));
        var engine = new PolicyEngine();

        await Publisher(engine).PublishAsync(CancellationToken.None);
        await Publisher(engine).PublishAsync(CancellationToken.None);
        File.WriteAllText(path, Policy(id, "size(manifest.scopes) > 5"));
        await Publisher(engine).PublishAsync(CancellationToken.None);

        var published = (await StreamOf(id)).OfType<PolicyPublished>().ToList();
        published.Select(p => p.Version).ShouldBe([1, 2]);
        published[1].Source.ShouldContain("size(manifest.scopes) > 5");
        published[1].Author.ShouldBe("tests@example.com");
        published[0].ContentHash.ShouldNotBe(published[1].ContentHash);
        engine.Policies.Single(p => p.Document.Id == id).Version.ShouldBe(2);

        File.Delete(path);
        await Publisher(engine).PublishAsync(CancellationToken.None);
        (await StreamOf(id)).OfType<PolicyWithdrawn>().Single().LastVersion.ShouldBe(2);
        engine.Policies.ShouldNotContain(p => p.Document.Id == id);
    }

    [Theory]
    [InlineData("id: x\ntitle: [unclosed", "not valid YAML at line")]
    [InlineData("id: ok-id\ntitle: t\nowner: o\neffect: maybe\nfindings: 'true'\nreason: r", "'effect' must be one of")]
    [InlineData("id: ok-id\ntitle: t\nowner: o\neffect: deny\nreason: r", "'findings' is required")]
    [InlineData("id: ok-id\ntitle: t\nowner: o\neffect: deny\nfindings: \"manifest.scopes.exists(s,\"\nreason: r", "not a valid CEL expression")]
    [InlineData("id: ok-id\ntitle: t\nowner: o\neffect: deny\nfindings: 'true'\nreason: r\nsneaky: 1", "unknown keys: sneaky")]
    public async Task A_broken_policy_file_is_refused_with_what_is_wrong_and_nothing_is_published(string content, string expected)
    {
        File.WriteAllText(Path.Combine(_directory, "broken.policy.yaml"), content);
        var before = await ledger.EventCount();
        var error = await Should.ThrowAsync<PolicyFileException>(() => Publisher(new PolicyEngine()).PublishAsync(CancellationToken.None));
        error.Message.ShouldContain(expected);
        (await ledger.EventCount()).ShouldBe(before);
    }
}
