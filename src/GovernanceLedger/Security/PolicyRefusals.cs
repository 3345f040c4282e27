using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace GovernanceLedger.Security;

/// <summary>
/// A signed-in person refused by an endpoint's named policy is answered like any other refusal: 403 problem+json
/// naming the rule (the role the policy asks for), and a GovernanceActionRefused on the ledger's own per-day
/// governance stream, so a refused attempt is on the record whether code or a policy refused it.
/// </summary>
public sealed class PolicyRefusals(IDocumentStore store, TimeProvider clock, ILogger<PolicyRefusals> logger) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    private static readonly Dictionary<string, (string Rule, string Sentence)> Rules = new(StringComparer.Ordinal)
    {
        [PeopleAuthentication.Policies.Admin] = ("platform-admin", "This needs the platform-admin role, held by a person."),
        [PeopleAuthentication.Policies.Reviewer] = ("security-reviewer", "This needs the security-reviewer or platform-admin role, held by a person."),
        [PeopleAuthentication.Policies.Registrant] = ("app-owner", "Registering an app needs the app-owner or platform-admin role."),
        [Audit.AuditSetup.AuditorPolicy] = ("auditor", "This needs the auditor, security-reviewer or platform-admin role."),
        [PeopleAuthentication.Policies.Finance] = ("finance", "This needs the finance or platform-admin role, held by a person.")
    };

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        if (!result.Forbidden || context.User.Identity?.IsAuthenticated != true)
        {
            await _default.HandleAsync(next, context, policy, result);
            return;
        }
        var named = context.GetEndpoint()?.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).OfType<string>()
            .FirstOrDefault(Rules.ContainsKey);
        var (rule, sentence) = named is null ? ("role", "Your roles do not allow this request.") : Rules[named];
        var caller = Caller.From(context.User);
        var now = clock.GetUtcNow();
        var action = context.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName
            ?? $"{context.Request.Method} {(context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText}";
        var appId = context.GetRouteValue("appId") as string;
        try
        {
            await AppStream.AppendWithRetryAsync(store, GovernanceStreams.Ledger(now),
                new GovernanceActionRefused(StrictJson.Bounded(appId ?? "", 63), StrictJson.Bounded(action, 128), rule, sentence, caller.Actor, now),
                context.RequestAborted);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The refusal stands either way; the ledger being unreachable is reported, never turned into access.
            logger.LogError(e, "Could not record a policy refusal of {Action} for {Actor}", action, caller.Actor);
        }
        // Confluent's registry clients read their own error shape, which the bearer scheme's forbid writes.
        if (context.Request.Path.StartsWithSegments("/registry"))
        {
            await _default.HandleAsync(next, context, policy, result);
            return;
        }
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        await Problem.Forbidden(rule, sentence).ToResult().ExecuteAsync(context);
    }
}
