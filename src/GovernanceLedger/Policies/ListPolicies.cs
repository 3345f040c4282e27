using GovernanceLedger.Security;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Policies;

public sealed record PolicyView(
    string Id, string Stage, int Version, string ContentHash, string Title, string Owner, string Effect, string Findings, string Reason, DateTimeOffset PublishedAt);

public static class ListPolicies
{
    /// <summary>The policies in force, each with the version and content hash that decisions cite.</summary>
    [WolverineGet("/policies", OperationId = "listPolicies"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Policies")]
    public static IReadOnlyList<PolicyView> Get(PolicyEngine engine) =>
        engine.Policies.Select(p => new PolicyView(p.Document.Id, p.Document.Stage, p.Version, p.Document.ContentHash, p.Document.Title,
            p.Document.Owner, p.Document.Effect, p.Document.Findings, p.Document.Reason, p.PublishedAt)).ToList();
}
