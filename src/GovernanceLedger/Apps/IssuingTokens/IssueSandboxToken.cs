using System.Security.Claims;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Apps.IssuingTokens;

/// <summary>
/// POST /apps/{appId}/sandbox/tokens: a sandbox token, for trying an app before (or after) it is approved. The data
/// proxy serves it synthetic rows generated from the curated datasets' columns, under the same grants, masking,
/// row-level security and runtime policies as a real token; every other data-plane door refuses it, and no request
/// made with it counts as usage. The owner (or a platform admin) gets it, as the app's end user.
/// </summary>
public static class IssueSandboxToken
{
    public static Decision Decide(App app, Caller caller, EndUser callerAsUser, string tokenId, string keyId, TimeSpan lifetime, DateTimeOffset now)
    {
        if (!app.IsOwnedBy(caller) && !caller.IsAdmin)
            return Problem.Forbidden("owner-or-admin", "Only the app's owner or a platform admin may try it in the sandbox.");
        if (app.Status == AppStatus.Retired)
            return Problem.Conflict("retired", "The app is retired; register a new one to try things out.");
        if (app.Scopes.Count == 0)
            return Problem.Invalid("scopes", "minItems", "The app's manifest asks for no scopes, so a token would open nothing.");
        return Decision.Accept(new AppTokenIssued(app.Id, tokenId, keyId, app.Scopes, callerAsUser.Subject, now + lifetime, caller.Actor, now,
            Sandbox: true));
    }

    [WolverinePost("/apps/{appId}/sandbox/tokens", OperationId = "issueSandboxToken"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Credentials")]
    public static async Task<IResult> Post(string appId, ClaimsPrincipal user, IDocumentSession session, SigningKeys keys, AppTokenWriter writer,
        TokenSettings settings, TimeProvider clock, CancellationToken ct)
    {
        var caller = Caller.From(user);
        var (app, _) = await AppStream.LoadAsync(session, appId, ct);
        if (app is null || !caller.MaySee(app.Owner)) return Problem.NoSuchApp(appId).ToResult();

        var key = await keys.ActiveAsync(ct);
        var now = clock.GetUtcNow();
        var endUser = IssueToken.ToEndUser(user);
        var decision = Decide(app, caller, endUser, Guid.NewGuid().ToString("N"), key.KeyId, settings.DefaultLifetime, now);
        if (decision.Problem is { } problem)
        {
            // Refused like any credential: on the app's timeline, with its rule, marked as a sandbox token's.
            await AppStream.AppendWithRetryAsync(session.DocumentStore, TokenStreams.For(appId, now), new AppTokenRefused(appId, null,
                problem.Errors.FirstOrDefault()?.Rule ?? "refused", StrictJson.Bounded(problem.Detail, 512), caller.Actor, now, Sandbox: true), ct);
            return problem.ToResult();
        }
        var issued = decision.Events.OfType<AppTokenIssued>().Single();
        session.Events.Append(TokenStreams.For(appId, now), issued);
        var token = writer.Write(key, app, issued, endUser, endUser.Mfa);
        return Results.Ok(new { access_token = token, token_type = "Bearer", expires_in = (int)settings.DefaultLifetime.TotalSeconds,
            scope = string.Join(' ', issued.Scopes), token_id = issued.TokenId, sandbox = true });
    }
}
