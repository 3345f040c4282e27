using System.Security.Claims;

namespace GovernanceLedger.Security;

/// <summary>The person (or agent) behind a control-plane request, as their bearer token says.</summary>
public sealed record Caller(string Subject, string? Email, IReadOnlySet<string> Roles, bool IsAgent, IReadOnlySet<string> Groups)
{
    public string Actor => IsAgent ? $"agent:{Subject}" : $"person:{Subject}";

    /// <summary>
    /// The human behind the token, whatever it claims to be acting as: an agent token and a person token
    /// of the same subject are the same person when it comes to counting approvals.
    /// </summary>
    public string Person => $"person:{Subject}";

    public bool MayRegister => Has(Role.AppOwner) || Has(Role.PlatformAdmin);

    public bool Has(string role) => Roles.Contains(role);
    public bool IsAdmin => Has(Role.PlatformAdmin);
    public bool IsReviewer => Has(Role.SecurityReviewer) || Has(Role.PlatformAdmin);

    /// <summary>Owners are named by e-mail in manifests; a token's email claim, else its subject, is compared.</summary>
    public bool Owns(string owner) =>
        string.Equals(Email ?? Subject, owner, StringComparison.OrdinalIgnoreCase) ||
        string.Equals(Subject, owner, StringComparison.OrdinalIgnoreCase);

    public static Caller From(ClaimsPrincipal user)
    {
        var subject = user.FindFirstValue("sub") ?? user.FindFirstValue(ClaimTypes.NameIdentifier)
            ?? throw new InvalidOperationException("An authenticated caller has no subject claim.");
        var email = user.FindFirstValue("email") ?? user.FindFirstValue(ClaimTypes.Email);
        var roles = user.FindAll(PeopleAuthentication.RoleClaim).Concat(user.FindAll(ClaimTypes.Role))
            .Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        var isAgent = string.Equals(user.FindFirstValue("actor_type"), "agent", StringComparison.Ordinal);
        var groups = user.FindAll("groups").Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        return new Caller(subject, email, roles, isAgent, groups);
    }
}

public static class Role
{
    public const string PlatformAdmin = "platform-admin";
    public const string SecurityReviewer = "security-reviewer";
    public const string AppOwner = "app-owner";
    public const string Auditor = "auditor";
    public const string Finance = "finance";

    public static readonly string[] All = [PlatformAdmin, SecurityReviewer, AppOwner, Auditor, Finance];
}
