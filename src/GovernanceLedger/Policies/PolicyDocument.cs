using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using GovernanceLedger.Contracts.Policies;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace GovernanceLedger.Policies;

/// <summary>One policy file as written by its author, parsed and checked but not yet compiled.</summary>
public sealed partial record PolicyDocument(
    string Id, string Title, string Owner, string Effect, string Findings, string Reason, string Source, string ContentHash,
    string Stage = PolicyStages.Registration, string? Fix = null)
{
    private static readonly string[] Effects = [PolicyOutcomes.Deny, PolicyOutcomes.Review, PolicyOutcomes.TwoApprovers];
    private static readonly string[] DetectorEffects = [PolicyOutcomes.Alert, PolicyOutcomes.Throttle, PolicyOutcomes.Pause];

    [GeneratedRegex("^[a-z][a-z0-9-]{1,62}$")]
    private static partial Regex IdPattern();

    /// <summary>Parses YAML text; a broken file is refused with the file name and what is wrong.</summary>
    public static PolicyDocument Parse(string source, string origin)
    {
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(source));
        }
        catch (YamlException e)
        {
            throw new PolicyFileException(origin, $"not valid YAML at line {e.Start.Line}, column {e.Start.Column}: {e.Message}");
        }

        if (yaml.Documents.Count != 1 || yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new PolicyFileException(origin, "expected one YAML mapping with id, title, owner, effect, findings and reason");

        string Required(string key)
        {
            if (!root.Children.TryGetValue(new YamlScalarNode(key), out var node) || node is not YamlScalarNode { Value: { Length: > 0 } value })
                throw new PolicyFileException(origin, $"'{key}' is required and must be a non-empty string");
            return value.Trim();
        }

        var id = Required("id");
        if (!IdPattern().IsMatch(id))
            throw new PolicyFileException(origin, $"'id' must be a lowercase slug, got '{id}'");
        var stage = root.Children.TryGetValue(new YamlScalarNode("stage"), out var stageNode) && stageNode is YamlScalarNode { Value: { } stageValue }
            ? stageValue.Trim()
            : PolicyStages.Registration;
        if (!PolicyStages.All.Contains(stage))
            throw new PolicyFileException(origin, $"'stage' must be one of {string.Join(", ", PolicyStages.All)}, got '{stage}'");
        var effect = Required("effect");
        var effects = stage switch
        {
            PolicyStages.Detect or PolicyStages.Advisory => DetectorEffects,
            PolicyStages.Reveal => [PolicyOutcomes.Mask],
            _ => Effects
        };
        if (!effects.Contains(effect))
            throw new PolicyFileException(origin, $"'effect' must be one of {string.Join(", ", effects)} for a {stage} policy, got '{effect}'");

        var known = new[] { "id", "title", "owner", "effect", "findings", "reason", "stage", "fix" };
        var unknown = root.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value).Where(k => !known.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new PolicyFileException(origin, $"unknown keys: {string.Join(", ", unknown)}");

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(source.ReplaceLineEndings("\n"))));
        // Optional: what the author of a manifest should change when the policy fires, in plain words.
        var fix = root.Children.TryGetValue(new YamlScalarNode("fix"), out var fixNode) && fixNode is YamlScalarNode { Value: { Length: > 0 } fixValue }
            ? fixValue.Trim()
            : null;
        return new PolicyDocument(id, Required("title"), Required("owner"), effect, Required("findings"), Required("reason"), source, hash, stage, fix);
    }
}

/// <summary>When a policy decides: on a manifest at registration, or on each data-plane request.</summary>
public static class PolicyStages
{
    public const string Registration = "registration";
    public const string Runtime = "runtime";
    public const string Topic = "topic";
    /// <summary>Detectors: judged on each app's recent traffic against its baseline, on the async daemon.</summary>
    public const string Detect = "detect";
    /// <summary>Judged for each app when a new advisory snapshot matches packages it uses: the effects of a detector.</summary>
    public const string Advisory = "advisory";
    /// <summary>Judged before PII is shown unmasked to an end user: effect mask, findings name the step-up that would reveal it.</summary>
    public const string Reveal = "reveal";

    public static readonly string[] All = [Registration, Runtime, Topic, Detect, Advisory, Reveal];
}

public sealed class PolicyFileException(string origin, string problem)
    : Exception($"Policy {origin}: {problem}")
{
    public string Origin { get; } = origin;
}
