using System.Security.Claims;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using GovernanceLedger.Telemetry;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Apps.IssuingTokens;

/// <summary>
/// Ask for an app token. scopes narrows the grant (never widens it). subject_token lets the owner
/// exchange an end user's people token; anyone else who asks is themselves the end user.
/// </summary>
public sealed record TokenRequest(IReadOnlyList<string>? Scopes, string? SubjectToken, int? ExpiresIn);

public sealed record TokenResponse(string AccessToken, string TokenType, int ExpiresIn, string Scope, string TokenId);

/// <summary>Who the token is for: the app, and the person behind it when there is one.</summary>
/// <summary>The person an app token acts for; <paramref name="Mfa"/>: their sign-in used more than one factor (amr contains mfa).</summary>
public sealed record EndUser(string Subject, string? Email, string? Region, IReadOnlySet<string> Groups, bool Mfa = false);

public static class IssueToken
{
    public static Decision Decide(
        App app, Caller caller, TokenRequest request, EndUser? subject, EndUser callerAsUser, string tokenId, string keyId,
        TimeSpan lifetime, DateTimeOffset now)
    {
        // Who asks comes first: someone outside the app learns nothing of its state.
        var owner = caller.Owns(app.Owner);
        if (subject is not null && !owner && !caller.IsAdmin)
            return Problem.Forbidden("exchange-by-owner", "Only the app's owner may exchange another person's token.");
        // The owner asking for themselves gets a plain app token; anyone else is the end user behind it,
        // and must be someone the app was declared to serve.
        var endUser = subject ?? (owner ? null : callerAsUser);
        if (endUser is not null && !app.Serves(endUser.Subject, endUser.Email, endUser.Groups))
            return Problem.Forbidden("audience", $"{endUser.Email ?? endUser.Subject} is not in the audience of {app.Id}.");
        if (app.Status != AppStatus.Active || app.IsExpiredAt(now))
            return Problem.Forbidden("app-not-active",
                $"The app is {(app.IsExpiredAt(now) && app.Status == AppStatus.Active ? AppStatus.Expired : app.Status)}; only active apps receive tokens.");

        var scopes = request.Scopes ?? app.Scopes;
        var ungranted = scopes.Select((s, i) => (s, i)).Where(x => !app.Scopes.Contains(x.s)).ToList();
        if (ungranted.Count > 0)
            return new Problem(StatusCodes.Status403Forbidden, "https://governance-ledger.dev/problems/forbidden", "Forbidden",
                "A token can only carry scopes the app was granted.",
                ungranted.Select(x => new Violation($"scopes[{x.i}]", "scope-not-granted", $"'{x.s}' is not granted to {app.Id}")).ToList());
        if (scopes.Count == 0)
            return Problem.Invalid("scopes", "minItems", "Ask for at least one scope.");

        return Decision.Accept(new AppTokenIssued(app.Id, tokenId, keyId, scopes.Distinct().ToList(), endUser?.Subject,
            now + lifetime, caller.Actor, now));
    }

    [WolverinePost("/apps/{appId}/tokens", OperationId = "issueAppToken"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Credentials")]
    public static async Task<IResult> Post(
        string appId, TokenRequest? request, ClaimsPrincipal user, IDocumentSession session, SigningKeys keys,
        AppTokenWriter writer, PeopleTokenValidator people, TokenSettings settings, TimeProvider clock, LedgerTelemetry telemetry,
        CancellationToken ct)
    {
        request ??= new TokenRequest(null, null, null);
        var caller = Caller.From(user);
        if (request.ExpiresIn is { } seconds && (seconds < 60 || seconds > settings.MaxLifetime.TotalSeconds))
            return Problem.Invalid("expires_in", "range", $"expires_in must be between 60 and {settings.MaxLifetime.TotalSeconds} seconds.").ToResult();

        EndUser? subject = null;
        if (request.SubjectToken is { } subjectToken)
        {
            var (person, _) = await people.ValidateAsync(subjectToken, ct);
            if (person is null)
                return Problem.Invalid("subject_token", "valid-people-token", "The subject token is not a valid people token (signature, issuer, audience or lifetime).").ToResult();
            subject = ToEndUser(person);
        }

        var (app, _) = await AppStream.LoadAsync(session, appId, ct);
        if (app is null)
        {
            // For someone who could not use it anyway, a missing app answers like an app outside their audience.
            return caller.IsAdmin ? Problem.NoSuchApp(appId).ToResult()
                : subject is not null ? Problem.Forbidden("exchange-by-owner", "Only the app's owner may exchange another person's token.").ToResult()
                : Problem.Forbidden("audience", $"{caller.Email ?? caller.Subject} is not in the audience of {StrictJson.Bounded(appId, 63)}.").ToResult();
        }

        var key = await keys.ActiveAsync(ct);
        var now = clock.GetUtcNow();
        var lifetime = request.ExpiresIn is { } s ? TimeSpan.FromSeconds(s) : settings.DefaultLifetime;
        var decision = Decide(app, caller, request, subject, ToEndUser(user), Guid.NewGuid().ToString("N"), key.KeyId, lifetime, now);
        if (decision.Problem is { } problem)
        {
            // A refused credential is a governance decision too: it goes on the app's timeline with its rule.
            var refusedFor = subject ?? (caller.Owns(app.Owner) ? null : ToEndUser(user));
            await AppStream.AppendWithRetryAsync(session.DocumentStore, TokenStreams.For(appId, now), new AppTokenRefused(appId,
                refusedFor is null ? null : StrictJson.Bounded(refusedFor.Email ?? refusedFor.Subject, 254),
                problem.Errors.FirstOrDefault()?.Rule ?? "refused", StrictJson.Bounded(problem.Detail, 512), caller.Actor, now), ct);
            return problem.ToResult();
        }

        // A pause that commits while this request is in flight can still see one token out; the
        // data plane refuses paused apps on every request, so that token opens nothing.
        var issued = decision.Events.OfType<AppTokenIssued>().Single();
        session.Events.Append(TokenStreams.For(appId, now), issued);
        telemetry.TokensIssued.Add(1, new KeyValuePair<string, object?>("app_id", appId));
        var holder = subject ?? ToEndUser(user);
        var token = writer.Write(key, app, issued, issued.EndUser is null ? null : holder, holder.Mfa);
        return Results.Ok(new TokenResponse(token, "Bearer", (int)lifetime.TotalSeconds, string.Join(' ', issued.Scopes), issued.TokenId));
    }

    internal static EndUser ToEndUser(ClaimsPrincipal person) =>
        new(person.FindFirstValue("sub") ?? throw new InvalidOperationException("people token without sub"),
            person.FindFirstValue("email"), person.FindFirstValue("region"),
            person.FindAll("groups").Select(c => c.Value).ToHashSet(StringComparer.Ordinal),
            person.FindAll("amr").Any(c => c.Value == "mfa"));
}
