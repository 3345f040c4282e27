using Microsoft.AspNetCore.Mvc;

namespace GovernanceLedger.Infrastructure;

/// <summary>One broken rule: the JSON path of the offending field, the rule's name, and a sentence.</summary>
public sealed record Violation(string Field, string Rule, string Message);

/// <summary>
/// An error as data. Decisions return it instead of throwing; endpoints render it as RFC 7807
/// problem+json with the violations listed under "errors".
/// </summary>
public sealed record Problem(int Status, string Type, string Title, string Detail, IReadOnlyList<Violation> Errors)
{
    public static Problem Invalid(string detail, params Violation[] errors) =>
        new(StatusCodes.Status400BadRequest, "https://governance-ledger.dev/problems/validation", "The request is invalid", detail, errors);

    public static Problem Invalid(string field, string rule, string message) =>
        Invalid(message, new Violation(field, rule, message));

    public static Problem NotFound(string what) =>
        new(StatusCodes.Status404NotFound, "https://governance-ledger.dev/problems/not-found", "Not found", what, []);

    /// <summary>The one answer for an app that does not exist and for one the caller may not see: nothing tells them apart.</summary>
    public static Problem NoSuchApp(string appId) => NotFound($"No app with app_id '{StrictJson.Bounded(appId, 63)}' is in the ledger.");

    public static Problem Conflict(string rule, string detail) =>
        new(StatusCodes.Status409Conflict, "https://governance-ledger.dev/problems/conflict", "Conflict with the app's current state", detail,
            [new Violation("", rule, detail)]);

    public static Problem Forbidden(string rule, string detail) =>
        new(StatusCodes.Status403Forbidden, "https://governance-ledger.dev/problems/forbidden", "Forbidden", detail,
            [new Violation("", rule, detail)]);

    public static Problem Unavailable(string detail) =>
        new(StatusCodes.Status503ServiceUnavailable, "https://governance-ledger.dev/problems/unavailable", "Service unavailable", detail, []);

    public ProblemDetails ToProblemDetails(string? instance = null)
    {
        var details = new ProblemDetails { Status = Status, Type = Type, Title = Title, Detail = Detail, Instance = instance };
        if (Errors.Count > 0)
            details.Extensions["errors"] = Errors.Select(e => new { field = e.Field, rule = e.Rule, message = e.Message }).ToList();
        return details;
    }

    public IResult ToResult() => Results.Problem(ToProblemDetails());
}
