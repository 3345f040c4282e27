using GovernanceLedger.Policies;
using JasperFx;
using Microsoft.AspNetCore.Diagnostics;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// Turns the exceptions that mean "someone else got there first" into 409 problem+json, and
/// anything unexpected into a 500 problem without internals (the details go to the log).
/// </summary>
public sealed class LedgerExceptionHandler(IProblemDetailsService problems, ILogger<LedgerExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken ct)
    {
        var problem = exception switch
        {
            ConcurrencyException or JasperFx.Events.EventStreamUnexpectedMaxEventIdException =>
                Problem.Conflict("stale-version", "The app changed while this request was being decided; reload it and try again."),
            JasperFx.Events.ExistingStreamIdCollisionException or Marten.Exceptions.ExistingStreamIdCollisionException =>
                Problem.Conflict("app-id-taken", "An app with this app_id was registered at the same moment."),
            BadHttpRequestException bad => BadRequest(bad),
            PolicyFileException policy =>
                new Problem(StatusCodes.Status503ServiceUnavailable, "https://governance-ledger.dev/problems/policy-unavailable",
                    "Policies unavailable", $"Policies could not be evaluated, so nothing was decided: {policy.Message}", []),
            _ => null
        };
        if (problem is null)
        {
            logger.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
            problem = new Problem(StatusCodes.Status500InternalServerError, "https://governance-ledger.dev/problems/internal",
                "Internal error", "The request failed; the error is in the service log. Read the app's events before retrying.", []);
        }
        else if (problem.Status >= 500)
        {
            logger.LogError(exception, "Request refused: {Detail}", problem.Detail);
        }

        context.Response.StatusCode = problem.Status;
        // A data-plane request recorded before its failure is answered (DataPlaneRecords) names its record.
        if (DataPlane.AccessRecorder.RecordedRequestId(context) is { } requestId) context.Response.Headers["X-Request-Id"] = requestId;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = problem.ToProblemDetails(context.Request.Path),
            Exception = exception
        });
    }

    /// <summary>
    /// A value the framework could not bind ("Failed to bind parameter \"int? max\" from \"abc\"."): the same
    /// problem as every other refusal, naming the parameter, rather than the framework's sentence.
    /// The server's own status stays (408 for a body sent too slowly, 413 for one too large): the client hears what the
    /// data plane's record of the request says.
    /// </summary>
    private static Problem BadRequest(BadHttpRequestException bad) =>
        System.Text.RegularExpressions.Regex.Match(bad.Message, "parameter \"(?:[^\" ]+ )?(?<name>[A-Za-z_][A-Za-z0-9_]*)\"") is { Success: true } match
            ? Problem.Invalid(match.Groups["name"].Value, "type",
                $"'{match.Groups["name"].Value}' has the wrong type or is out of range for this request.")
            : Problem.Invalid("", "request", bad.Message) with { Status = bad.StatusCode is >= 400 and < 500 ? bad.StatusCode : StatusCodes.Status400BadRequest };
}
