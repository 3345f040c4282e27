using System.Security.Claims;

namespace GovernanceLedger.Security;

/// <summary>The person (or agent) behind a control-plane request, as their bearer token says.</summary>
public sealed record Caller(string Subject, string? Email, IReadOnlySet<string> Roles, bool IsAgent, IReadOnlySet<string> Groups)
{
    public string Actor => IsAgent ? $"agent:{Subject}" : $"person:{Subject}";

    /// <summary>
    /// The human behind the token, whatever it claims to be acting as: their canonical e-mail address when the
    /// token has one, else their canonical subject. An agent token, a second subject with the same address, or
    /// the same address in other letter case are all the same person when approvals are counted.
    /// </summary>
    public string Person => $"person:{Identity.Canonical(Email) ?? Identity.Canonical(Subject) ?? Subject}";

    /// <summary>Reviewers, auditors and finance see every app; anyone else sees only their own.</summary>
    public bool SeesAllApps => Has(Role.SecurityReviewer) || Has(Role.PlatformAdmin) || Has(Role.Auditor) || Has(Role.Finance);

    public bool MaySee(string owner) => SeesAllApps || Owns(owner);

    /// <summary>The ledger itself, acting on schedules (expiry): it sees every app.</summary>
    public static readonly Caller Ledger = new("ledger", null, new HashSet<string> { Role.PlatformAdmin }, false, new HashSet<string>());

    public bool Has(string role) => Roles.Contains(role);

    /// <summary>
    /// Review and administration belong to people whose names can be compared with others' (no agent, no
    /// invisible or non-ASCII characters in the subject or e-mail): otherwise "is this the owner" and "has
    /// this person approved already" could not be answered, so the powers are simply not there.
    /// </summary>
    public bool Governs => !IsAgent && Identity.Canonical(Subject) is not null && (Email is null || Identity.Canonical(Email) is not null);

    public bool IsAdmin => Governs && Has(Role.PlatformAdmin);
    public bool IsReviewer => Governs && (Has(Role.SecurityReviewer) || Has(Role.PlatformAdmin));

    /// <summary>Every canonical name the caller goes by (subject and e-mail): one person, however many ways a token spells them.</summary>
    public IReadOnlyList<string> Names => new[] { Subject, Email }.Select(Identity.Canonical).OfType<string>().Distinct().ToList();

    /// <summary>Owners are named by e-mail in manifests; the token's email claim and its subject are compared in canonical form.</summary>
    public bool Owns(string owner) => Identity.Same(Email, owner) || Identity.Same(Subject, owner);

    public static Caller From(ClaimsPrincipal user)
    {
        var subject = user.FindFirstValue("sub") ?? user.FindFirstValue(ClaimTypes.NameIdentifier)
            ?? throw new InvalidOperationException("An authenticated caller has no subject claim.");
        var email = user.FindFirstValue("email") ?? user.FindFirstValue(ClaimTypes.Email);
        var roles = user.FindAll(PeopleAuthentication.RoleClaim).Concat(user.FindAll(ClaimTypes.Role))
            .Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        // Fail closed: any actor_type other than a person's makes the token an agent's ("Agent", " agent", "bot").
        var isAgent = user.FindFirstValue("actor_type") is { } actorType
            && !actorType.Equals("person", StringComparison.Ordinal) && !actorType.Equals("human", StringComparison.Ordinal);
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

/// <summary>
/// People are compared by one canonical form of their names: trimmed, ASCII lowercased. A name with any
/// character outside printable ASCII has no canonical form and equals nothing, so a homoglyph (the Kelvin
/// sign, a Cyrillic letter) or an invisible character never passes for someone else.
/// </summary>
public static class Identity
{
    public static string? Canonical(string? name)
    {
        if (name is null) return null;
        var trimmed = name.Trim();
        if (trimmed.Length == 0 || trimmed.Any(c => c is < '!' or > '~')) return null;
        return string.Create(trimmed.Length, trimmed, (span, source) =>
        {
            for (var i = 0; i < source.Length; i++) span[i] = source[i] is >= 'A' and <= 'Z' ? (char)(source[i] + 32) : source[i];
        });
    }

    public static bool Same(string? a, string? b) => Canonical(a) is { } x && x == Canonical(b);
}
