using System.Security.Claims;
using System.Text.Json.Serialization;
using GovernanceLedger.Contracts.Chargeback;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Chargeback;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Chargeback;

public sealed record BudgetRequest(
    [property: JsonPropertyName("scope")] string? Scope,
    [property: JsonPropertyName("key")] string? Key,
    [property: JsonPropertyName("month")] string? Month,
    [property: JsonPropertyName("amount")] decimal? Amount,
    [property: JsonPropertyName("throttle_at_limit")] bool? ThrottleAtLimit,
    [property: JsonPropertyName("reason")] string? Reason);

/// <summary>PUT /chargeback/budgets (finance): a monthly budget for an app or a cost centre, in the rate card's currency.</summary>
public static partial class SetBudget
{
    [System.Text.RegularExpressions.GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9_.-]*\z")]
    private static partial System.Text.RegularExpressions.Regex CostCenter();

    public static Problem? Validate(BudgetRequest request)
    {
        var errors = new List<Violation>();
        if (request.Scope is not (Budgets.App or Budgets.CostCenter))
            errors.Add(new("scope", "enum", $"scope must be {Budgets.App} or {Budgets.CostCenter}."));
        // The same whole-string rules as the manifest's app_id and cost_center: nothing else can name one.
        if (request.Scope == Budgets.App && !Identifiers.IsSlug(request.Key))
            errors.Add(new("key", "app-id", "key must be an app id: lowercase letters, digits and dashes."));
        else if (request.Scope == Budgets.CostCenter && (request.Key is not { Length: > 0 and <= 40 } || !CostCenter().IsMatch(request.Key)))
            errors.Add(new("key", "cost-center", "key must be a cost centre as manifests name it: letters, digits, '_', '.', '-', at most 40."));
        if (!Budgets.TryParseMonth(request.Month, out _))
            errors.Add(new("month", "format", "month must be YYYY-MM."));
        if (request.Amount is not > 0m || request.Amount > 1_000_000_000m)
            errors.Add(new("amount", "range", "amount must be more than 0 and at most 1,000,000,000."));
        if (!Reasons.IsMeaningful(request.Reason)) errors.Add(new("reason", "required", "reason is required: something a person can read."));
        return errors.Count > 0 ? Problem.Invalid("The budget is invalid.", [.. errors]) : null;
    }

    [WolverinePut("/chargeback/budgets", OperationId = "setBudget"), Authorize(Policy = PeopleAuthentication.Policies.Finance)]
    [Tags("Chargeback")]
    public static async Task<IResult> Put(BudgetRequest request, ClaimsPrincipal user, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        if (Validate(request) is { } invalid) return invalid.ToResult();
        var cards = await RateCards.CardsAsync(session, ct);
        var set = new BudgetSet(request.Scope!, request.Key!, request.Month!, request.Amount!.Value,
            RateCards.InForce(cards, DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime))?.Currency ?? "", request.ThrottleAtLimit ?? false,
            request.Reason!, Caller.From(user).Actor, clock.GetUtcNow());
        session.Events.Append(BudgetEntry.StreamFor(set.Scope, set.Key, set.Month), set);
        return Results.Json(set, LedgerSetup.ApiJson);
    }
}
