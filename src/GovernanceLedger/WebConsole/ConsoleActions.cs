using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;

namespace GovernanceLedger.WebConsole;

/// <summary>
/// What the console's forms post to: each validates the form's antiforgery token, calls the API as the signed-in person,
/// and redirects back to the page with the outcome (post, redirect, get). Downloads relay the API's own CSV.
/// </summary>
public static class ConsoleActions
{
    public static void Map(WebApplication app)
    {
        var console = app.MapGroup("/console").RequireAuthorization(ConsoleSetup.Policy).ExcludeFromDescription();
        // Every form the console posts carries its antiforgery token, whether or not the action reads a form field
        // (the framework itself checks it only for actions that bind form fields).
        console.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (HttpMethods.IsPost(http.Request.Method)
                && !await http.RequestServices.GetRequiredService<Microsoft.AspNetCore.Antiforgery.IAntiforgery>().IsRequestValidAsync(http))
                return Infrastructure.Problem.Invalid("__RequestVerificationToken", "antiforgery",
                    "This form is missing the console page's antiforgery token; reload the page and try again.").ToResult();
            return await next(context);
        });

        console.MapPost("/actions/decide", async ([FromForm] string appId, [FromForm] string decision, [FromForm] string? reason, [FromForm] string? back,
            ConsoleApi api, FlashMessages flash, CancellationToken ct) =>
        {
            var answer = await api.PostAsync($"/apps/{Uri.EscapeDataString(appId)}/approvals",
                new JsonObject { ["decision"] = decision, ["reason"] = reason ?? "" }, ct: ct);
            var message = answer.Ok
                ? $"{appId}: {(decision == "approve" ? "approval" : "rejection")} recorded; the app is now {answer.Json?["status"]?.GetValue<string>() ?? "updated"}."
                : $"{appId}: {answer.Problem}";
            return Results.Redirect($"{Back(back, "/console/review")}?{(answer.Ok ? "done" : "error")}={Uri.EscapeDataString(flash.Seal(message))}");
        });

        console.MapPost("/actions/verify", async (ConsoleApi api, FlashMessages flash, CancellationToken ct) =>
        {
            var answer = await api.PostAsync("/audit/verify/jobs", new JsonObject(), ct: ct);
            return answer.Ok && answer.Json?["job_id"]?.GetValue<string>() is { } job
                ? Results.Redirect($"/console/security?job={Uri.EscapeDataString(job)}")
                : Results.Redirect($"/console/security?error={Uri.EscapeDataString(flash.Seal(answer.Problem))}");
        });

        console.MapGet("/finance.csv", async (string? month, string? group_by, ConsoleApi api, CancellationToken ct) =>
        {
            var (status, body, type) = await api.GetRawAsync($"/chargeback?month={Uri.EscapeDataString(month ?? "")}&group_by={Uri.EscapeDataString(group_by ?? "app")}", "text/csv", ct);
            return status == 200
                ? Results.File(body, "text/csv", $"chargeback-{month}-{group_by ?? "app"}.csv")
                : Refusal(body, type, status);
        });

        // The last 30 days of an app's trail, every page of it: each page is relayed as it comes, without its header line
        // after the first. A page that fails after the download began ends the download as failed, never as a short file.
        // Console:ExportPageSize is checked here, as the host starts.
        var size = app.Configuration.GetValue("Console:ExportPageSize", Audit.AuditResults.MaxLimit) is var n && n is >= 1 and <= Audit.AuditResults.MaxLimit
            ? n : throw new InvalidOperationException($"Console:ExportPageSize is {n}: it must be from 1 to {Audit.AuditResults.MaxLimit} (events a page of the console's CSV export).");
        console.MapGet("/apps/{appId}/timeline.csv", async (string appId, ConsoleApi api, HttpContext http, CancellationToken ct) =>
        {
            // The window is fixed when the export starts: what is recorded while it runs is not in it, so the file is the
            // 30 days up to that instant, whatever traffic comes in meanwhile.
            var now = DateTimeOffset.UtcNow;
            var window = $"from={Uri.EscapeDataString(now.AddDays(-30).ToString("O"))}&to={Uri.EscapeDataString(now.ToString("O"))}";
            var path = $"/audit/timeline?app_id={Uri.EscapeDataString(appId)}&{window}&limit={size}";
            var (status, body, type, next) = await api.GetPageAsync(path, "text/csv", ct);
            if (status != 200) return Refusal(body, type, status);

            http.Response.ContentType = "text/csv";
            http.Response.Headers.ContentDisposition = new System.Net.Mime.ContentDisposition { FileName = $"timeline-{appId}.csv" }.ToString();
            await http.Response.Body.WriteAsync(body, ct);
            while (next is not null)
            {
                (status, body, _, next) = await api.GetPageAsync($"{path}&cursor={Uri.EscapeDataString(next)}", "text/csv", ct);
                if (status != 200)
                {
                    http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ConsoleActions))
                        .LogWarning("Timeline export of {AppId} stopped: a later page answered {Status}", appId, status);
                    http.Abort();
                    return Results.Empty;
                }
                var header = Array.IndexOf(body, (byte)'\n');
                await http.Response.Body.WriteAsync(body.AsMemory(header + 1), ct);
            }
            return Results.Empty;
        });

        console.MapPost("/signout", async (HttpContext http) =>
        {
            await http.SignOutAsync(ConsoleSetup.CookieScheme);
            return Results.Redirect("/console/signed-out");
        });
        // A page that needs no session, so signing out does not sign straight back in.
        app.MapGet("/console/signed-out", (bool? failed) => Results.Content(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed out</title><link rel=\"stylesheet\" href=\"/console/console.css\"></head>" +
            (failed == true
                ? "<body><main><h1>Sign-in did not complete</h1><p>The sign-in could not be checked (it may have expired or been used already).</p>"
                : "<body><main><h1>Signed out</h1>") +
            "<p><a href=\"/console\">Sign in again</a></p></main></body></html>", "text/html; charset=utf-8"))
            .AllowAnonymous().ExcludeFromDescription();
    }

    /// <summary>
    /// Only a console page: plain path segments under /console/ (letters, digits, '-', '_', '.'; no "." or ".." segment,
    /// no escapes), so a form can send nobody elsewhere, not even elsewhere on this origin.
    /// </summary>
    private static string Back(string? back, string fallback) =>
        back is { Length: > 1 and <= 200 } b && b.StartsWith("/console/", StringComparison.Ordinal)
        && b["/console/".Length..].Split('/').All(segment => segment.Length > 0 && segment is not ("." or "..")
            && segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            ? b : fallback;

    /// <summary>
    /// An API refusal passed on to the browser: a problem stays a problem, anything else is plain text. Whatever answered,
    /// its own content type (HTML, script) never reaches the browser on the console's origin.
    /// </summary>
    private static IResult Refusal(byte[] body, string type, int status) =>
        Results.Text(System.Text.Encoding.UTF8.GetString(body),
            type.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase) ? "application/problem+json" : "text/plain",
            System.Text.Encoding.UTF8, status);
}
