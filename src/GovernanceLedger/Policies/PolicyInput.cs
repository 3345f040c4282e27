using GovernanceLedger.Contracts.Apps;

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
    public static IDictionary<string, object?> From(AppManifest m, DataCatalog catalog, AppQuotas ceiling)
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
                ["policy_sets"] = List(m.PolicySets)
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

    private static List<object?> List(IEnumerable<string> items) => items.Select(i => (object?)i).ToList();
}
