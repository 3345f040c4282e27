using System.Security.Claims;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace GovernanceLedger.Apps.Registering;

public static class Register
{
    /// <summary>Registers a micro app from its manifest; policies decide whether it is approved, reviewed or rejected.</summary>
    [WolverinePost("/apps", OperationId = "registerApp"), Authorize(Policy = PeopleAuthentication.Policies.Registrant)]
    [Tags("Apps")]
    public static async Task<(IResult, IMartenOp, OutgoingMessages)> Post(
        HttpRequest request, ClaimsPrincipal user, ManifestReader reader, Registrar registrar, IDocumentSession session, CancellationToken ct)
    {
        var (body, problem) = await ManifestReader.ReadObjectAsync(request, ct);
        if (problem is not null) return (problem.ToResult(), MartenOps.Nothing(), []);

        var (manifest, invalid) = reader.Validate(body!);
        if (invalid is not null) return (invalid.ToResult(), MartenOps.Nothing(), []);

        var outcome = await registrar.DecideAsync(manifest!, Caller.From(user), session, ct);
        return (outcome.Response, outcome.Stream, outcome.Messages);
    }
}
