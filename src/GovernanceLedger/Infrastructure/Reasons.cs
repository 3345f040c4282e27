using System.Globalization;
using System.Text;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// Every governance action carries a reason a person can read: at least one visible character (not only
/// spaces, zero-width or other invisible characters), at most 1,000.
/// </summary>
public static class Reasons
{
    public const int MaxLength = 1000;

    public static bool IsMeaningful([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? reason) =>
        reason is { Length: > 0 and <= MaxLength } && reason.EnumerateRunes().Any(r => Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark => false,
            _ => true
        });

    /// <summary>The 400 naming the field, for a reason that is not <see cref="IsMeaningful"/>.</summary>
    public static Problem Missing(string what, string field = "reason") =>
        Problem.Invalid(field, "required", $"A reason (1 to {MaxLength} characters, something a person can read) is required for every {what}.");
}
