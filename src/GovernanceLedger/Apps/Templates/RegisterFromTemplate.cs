using System.Security.Claims;
using GovernanceLedger.Apps.Registering;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace GovernanceLedger.Apps.Templates;

public static class RegisterFromTemplate
{
    /// <summary>Registers an app from a template; the body holds app_id, owner and any overrides.</summary>
    [WolverinePost("/apps/from-template/{template}", OperationId = "registerAppFromTemplate"), Authorize(Policy = PeopleAuthentication.Policies.Registrant)]
    [Tags("Apps")]
    public static async Task<(IResult, IMartenOp, OutgoingMessages)> Post(
        string template, HttpRequest request, ClaimsPrincipal user, TemplateCatalog templates, ManifestReader reader,
        Registrar registrar, IDocumentSession session, CancellationToken ct)
    {
        if (templates.Find(template) is not { } found)
            return (Problem.NotFound($"No template '{template}'. Known: {string.Join(", ", templates.Templates.Select(t => t.Id))}.").ToResult(),
                MartenOps.Nothing(), []);

        var (body, problem) = await ManifestReader.ReadObjectAsync(request, ct);
        if (problem is not null) return (problem.ToResult(), MartenOps.Nothing(), []);

        var (manifest, invalid) = reader.Validate(TemplateCatalog.Merge(found, body!));
        if (invalid is not null) return (invalid.ToResult(), MartenOps.Nothing(), []);

        var outcome = await registrar.DecideAsync(manifest!, Caller.From(user), session, ct);
        return (outcome.Response, outcome.Stream, outcome.Messages);
    }

    [WolverineGet("/templates", OperationId = "listTemplates"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Apps")]
    public static IReadOnlyList<AppTemplate> List(TemplateCatalog templates) => templates.Templates;
}
