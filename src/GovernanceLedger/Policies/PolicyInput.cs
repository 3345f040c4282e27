using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Contracts.SupplyChain;

namespace GovernanceLedger.Policies;

/// <summary>
/// Builds the variables CEL sees: the manifest, the catalog, and a few facts derived from both so
/// that policy expressions stay one line. Numbers are longs because CEL integers are 64-bit.
/// </summary>
public static class PolicyInput
{
    /// <param name="m">The manifest being judged.</param>
    /// <param name="catalog">The data catalog: connectors, datasets, PII.</param>
    /// <param name="ceiling">The most the app may ask for without review: its template's quotas, else the product defaults.</param>
    /// <param name="context">What the ledger knows beside the manifest: how it differs from where it started, and its known vulnerabilities.</param>
    public static IDictionary<string, object?> From(AppManifest m, DataCatalog catalog, AppQuotas ceiling, RegistrationContext context)
    {
        var connectors = catalog.Connectors;
        var datasets = catalog.Datasets;
        var requested = m.Datasets;
        var unknownDatasets = requested.Where(d => !datasets.ContainsKey(d.Name)).Select(d => d.Name).ToList();
        var unknownFields = requested
            .Where(d => datasets.ContainsKey(d.Name))
            .SelectMany(d => d.Fields.Where(f => !datasets[d.Name].Fields.Contains(f)).Select(f => $"{d.Name}.{f}"))
            .ToList();
        var piiFields = requested
            .Where(d => datasets.ContainsKey(d.Name))
            .SelectMany(d => d.Fields.Where(f => datasets[d.Name].Pii.Contains(f)).Select(f => $"{d.Name}.{f}"))
            .ToList();
        var offered = m.Connectors
            .Where(connectors.ContainsKey)
            .SelectMany(c => connectors[c].Scopes)
            .ToHashSet(StringComparer.Ordinal);
        var unofferedScopes = m.Scopes.Where(s => !offered.Contains(s)).ToList();
        var quotas = m.Quotas ?? new AppQuotas(null, null, null);
        var aboveCeiling = new List<string>();
        if (quotas.EffectiveRequestsPerDay > ceiling.EffectiveRequestsPerDay)
            aboveCeiling.Add($"requests_per_day {quotas.EffectiveRequestsPerDay} > {ceiling.EffectiveRequestsPerDay}");
        if (quotas.EffectiveRequestsPerSecond > ceiling.EffectiveRequestsPerSecond)
            aboveCeiling.Add($"requests_per_second {quotas.EffectiveRequestsPerSecond} > {ceiling.EffectiveRequestsPerSecond}");
        if (quotas.EffectiveRowsPerDay > ceiling.EffectiveRowsPerDay)
            aboveCeiling.Add($"rows_per_day {quotas.EffectiveRowsPerDay} > {ceiling.EffectiveRowsPerDay}");
        // A cost centre is finance's to give: one the catalog does not list, or one that does not pay for this owner's apps.
        var costCenter = new List<string>();
        if (m.CostCenter is { Length: > 0 } named && !catalog.Bills(named, m.Owner))
            costCenter.Add(catalog.CostCenterList.Any(c => c.Id == named)
                ? $"cost center {named} does not pay for apps of {m.Owner}"
                : $"cost center {named} is not one the catalog lists");
        var writeResources = m.Scopes.Where(s => s.StartsWith("write:", StringComparison.Ordinal)).Select(s => s["write:".Length..]).ToList();

        return new Dictionary<string, object?>
        {
            ["manifest"] = new Dictionary<string, object?>
            {
                ["app_id"] = m.AppId,
                ["owner"] = m.Owner,
                ["description"] = m.Description ?? "",
                ["scopes"] = List(m.Scopes),
                ["connectors"] = List(m.Connectors),
                ["datasets"] = requested.Select(d => (object?)new Dictionary<string, object?>
                {
                    ["name"] = d.Name,
                    ["fields"] = List(d.Fields)
                }).ToList(),
                ["data_retention_days"] = (long?)m.DataRetentionDays,
                ["expires_in_days"] = (long)m.ExpiresInDays,
                ["cost_center"] = m.CostCenter ?? "",
                ["generated_by"] = m.GeneratedBy,
                ["template"] = m.Template ?? "",
                ["policy_sets"] = List(m.PolicySets),
                ["purpose"] = m.Purpose ?? ""
            },
            ["dependencies"] = Dependencies(m.Dependencies, context),
            ["intent"] = new Dictionary<string, object?>
            {
                ["baseline"] = context.Intent.Baseline,
                ["added_scopes"] = List(context.Intent.AddedScopes),
                ["added_write_scopes"] = List(context.Intent.AddedScopes.Where(s => s.StartsWith("write:", StringComparison.Ordinal))),
                ["removed_scopes"] = List(context.Intent.RemovedScopes),
                ["added_datasets"] = List(context.Intent.AddedDatasets),
                ["added_fields"] = List(context.Intent.AddedFields),
                ["added_pii_fields"] = List(context.Intent.AddedPiiFields)
            },
            ["catalog"] = new Dictionary<string, object?>
            {
                ["connectors"] = connectors.ToDictionary(c => c.Key, c => (object?)new Dictionary<string, object?>
                {
                    ["scopes"] = List(c.Value.Scopes)
                }),
                ["datasets"] = datasets.ToDictionary(d => d.Key, d => (object?)new Dictionary<string, object?>
                {
                    ["connector"] = d.Value.Connector,
                    ["fields"] = List(d.Value.Fields),
                    ["pii"] = List(d.Value.Pii),
                    ["production"] = d.Value.Production
                })
            },
            ["request"] = new Dictionary<string, object?>
            {
                ["pii_fields"] = List(piiFields),
                ["write_resources"] = List(writeResources),
                ["unknown_datasets"] = List(unknownDatasets),
                ["unknown_fields"] = List(unknownFields),
                ["unoffered_scopes"] = List(unofferedScopes),
                ["quotas_above_ceiling"] = List(aboveCeiling),
                ["cost_center_not_the_owners"] = List(costCenter),
                ["audience_people"] = List(m.Audience?.People ?? []),
                ["audience_groups"] = List(m.Audience?.Groups ?? [])
            },
            ["settings"] = new Dictionary<string, object?>
            {
                ["pii_scope"] = catalog.PiiScope,
                ["max_datasets_single_approver"] = (long)catalog.MaxDatasetsSingleApprover
            }
        };
    }

    /// <summary>
    /// The app's packages and models; the known vulnerabilities among them (from the advisory snapshot in force); and
    /// one entry per component and licence id (an "A OR B" expression names both), so licence lists stay one-line CEL.
    /// </summary>
    private static Dictionary<string, object?> Dependencies(AppDependencies? d, RegistrationContext context)
    {
        var packages = d?.Packages ?? [];
        var models = d?.Models ?? [];
        var licenseUses = packages.Select(p => ($"{p.Ecosystem}:{p.Name}@{p.Version}", p.License))
            .Concat(models.Select(m => ($"model {m.Name}@{m.Version}", m.License)))
            .Where(c => c.Item2 is { Length: > 0 })
            .SelectMany(c => LicenseIds(c.Item2!).Select(id => (object?)new Dictionary<string, object?>
            {
                ["component"] = c.Item1, ["license"] = id, ["key"] = LicenseKey(id)
            }))
            .ToList();
        return new Dictionary<string, object?>
        {
            ["packages"] = packages.Select(p => (object?)new Dictionary<string, object?>
            {
                ["ecosystem"] = p.Ecosystem, ["name"] = p.Name, ["version"] = p.Version, ["license"] = p.License ?? ""
            }).ToList(),
            ["models"] = models.Select(m => (object?)new Dictionary<string, object?>
            {
                ["name"] = m.Name, ["version"] = m.Version, ["license"] = m.License ?? "", ["provider"] = m.Provider ?? ""
            }).ToList(),
            ["vulnerabilities"] = context.Vulnerabilities.Select(v => (object?)new Dictionary<string, object?>
            {
                ["advisory"] = v.AdvisoryId, ["ecosystem"] = v.Ecosystem, ["package"] = v.Package, ["version"] = v.Version,
                ["severity"] = v.Severity, ["summary"] = v.Summary, ["fixed_in"] = v.FixedIn ?? ""
            }).ToList(),
            ["license_uses"] = licenseUses,
            ["unlicensed_models"] = List(models.Where(m => m.License is not { Length: > 0 }).Select(m => $"{m.Name}@{m.Version}")),
            ["sbom"] = d?.Sbom ?? "",
            ["advisory_snapshot"] = (long)context.AdvisorySnapshot
        };
    }

    /// <summary>
    /// The licence ids of an SPDX expression ("MIT OR (Apache-2.0 AND BSD-3-Clause)"), or of a list however separated
    /// (commas, semicolons, slashes); a name with spaces ("GNU Affero General Public License v3.0") is kept whole when it
    /// has no operator in it.
    /// </summary>
    public static IReadOnlyList<string> LicenseIds(string expression)
    {
        var text = Dashes(expression.Normalize(System.Text.NormalizationForm.FormKC));
        var parts = text.Split([',', ';', '/', '|'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.SelectMany(part =>
        {
            var tokens = part.Replace("(", " ").Replace(")", " ").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return tokens.Any(t => t.ToUpperInvariant() is "OR" or "AND" or "WITH")
                ? tokens.Where(t => t.ToUpperInvariant() is not ("OR" or "AND" or "WITH"))
                : [string.Join(' ', tokens)];
        }).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The form licence lists compare: upper case (SPDX ids are case-insensitive), any dash as '-', and the deprecated
    /// "+" suffix as -OR-LATER. Policies list keys, so a spelling variant is never a way past them.
    /// </summary>
    public static string LicenseKey(string id)
    {
        var key = Dashes(id.Normalize(System.Text.NormalizationForm.FormKC)).Trim().ToUpperInvariant();
        return key.EndsWith('+') ? key[..^1] + "-OR-LATER" : key;
    }

    private static string Dashes(string text) =>
        string.Concat(text.Select(c => char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.DashPunctuation || c == '\u2212' ? '-' : c));

    private static List<object?> List(IEnumerable<string> items) => items.Select(i => (object?)i).ToList();
}
