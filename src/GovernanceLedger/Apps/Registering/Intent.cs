using GovernanceLedger.Apps.Templates;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Policies;

namespace GovernanceLedger.Apps.Registering;

/// <summary>What a manifest started from: the scopes and datasets of the template it names, or nothing.</summary>
public sealed record ManifestBaseline(string Source, IReadOnlyList<string> Scopes, IReadOnlyList<DatasetRequest> Datasets)
{
    public static readonly ManifestBaseline None = new("none", [], []);

    /// <summary>The template it names (its defaults' scopes and datasets), else nothing.</summary>
    public static ManifestBaseline From(AppManifest manifest, TemplateCatalog templates)
    {
        if (manifest.Template is not { } id || templates.Find(id) is not { } template) return None;
        var scopes = template.Defaults["scopes"]?.AsArray().Select(s => s!.GetValue<string>()).ToList() ?? [];
        var datasets = template.Defaults["datasets"]?.AsArray()
            .Select(d => new DatasetRequest(d!["name"]!.GetValue<string>(), d["fields"]?.AsArray().Select(f => f!.GetValue<string>()).ToList() ?? []))
            .ToList() ?? [];
        return new ManifestBaseline($"template {id}", scopes, datasets);
    }
}

/// <summary>The difference between a manifest and its baseline, field by field, with the PII among the new fields named.</summary>
public static class Intent
{
    public static IntentAssessed Assess(AppManifest manifest, ManifestBaseline baseline, DataCatalog catalog, string actor, DateTimeOffset now)
    {
        var addedScopes = manifest.Scopes.Except(baseline.Scopes, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var removedScopes = baseline.Scopes.Except(manifest.Scopes, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var before = baseline.Datasets.ToDictionary(d => d.Name, d => d.Fields.ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        var addedDatasets = manifest.Datasets.Select(d => d.Name).Where(n => !before.ContainsKey(n)).Order(StringComparer.Ordinal).ToList();
        var addedFields = manifest.Datasets
            .SelectMany(d => d.Fields.Where(f => !(before.TryGetValue(d.Name, out var had) && had.Contains(f))).Select(f => $"{d.Name}.{f}"))
            .Order(StringComparer.Ordinal).ToList();
        var addedPii = addedFields.Where(f =>
        {
            var dot = f.IndexOf('.');
            return catalog.Datasets.TryGetValue(f[..dot], out var dataset) && dataset.Pii.Contains(f[(dot + 1)..]);
        }).ToList();
        return new IntentAssessed(manifest.AppId, baseline.Source, addedScopes, removedScopes, addedDatasets, addedFields, addedPii,
            manifest.Purpose, actor, now);
    }
}
