using System.Diagnostics;
using GovernanceLedger.DataPlane;
using GovernanceLedger.Policies;
using Microsoft.Extensions.Options;

namespace GovernanceLedger.DataProxy;

/// <summary>
/// GET /data with an app token: the curated datasets this app may query, with the fields it was granted,
/// which of them come back masked, and the row-level key. Listing is an access event like any other.
/// </summary>
public static class ListDatasets
{
    public static async Task<IResult> HandleAsync(HttpContext context, DataPlaneGuard guard, AccessRecorder recorder, IOptionsMonitor<DataCatalog> catalog)
    {
        var start = Stopwatch.GetTimestamp();
        var (caller, denial) = await guard.AdmitAsync(context, []);
        if (caller is null)
        {
            await recorder.DeniedAsync(context, QueryDataset.Plane, "data", denial!, start);
            return AccessRecorder.Refusal(denial!);
        }
        var unmasked = caller.MayReadPii(catalog.CurrentValue.PiiScope);
        var datasets = catalog.CurrentValue.DatasetList
            .Where(d => d.ServedByProxy && caller.App.Datasets.Any(g => g.Name == d.Name) && caller.Scopes.Contains(d.RequiredScope))
            .Select(d =>
            {
                var fields = caller.App.Datasets.First(g => g.Name == d.Name).Fields.Where(d.Fields.Contains).ToList();
                return new
                {
                    name = d.Name,
                    fields,
                    masked_fields = unmasked ? [] : fields.Where(d.Pii.Contains).Select(f => new { field = f, masking = d.MaskingFor(f) }).ToList(),
                    // With the PII scope, PII is still shown only after the reveal policies pass for the end user at query time.
                    pii_reveal = unmasked && fields.Any(d.Pii.Contains) ? (d.RevealRequiresReason ? "step-up, reason required" : "step-up") : null,
                    row_level_security = d.RlsKey,
                    required_scope = d.RequiredScope
                };
            }).ToList();
        await recorder.AllowedAsync(context, QueryDataset.Plane, "data", caller, 200, 0, start, "listed datasets");
        return Results.Ok(new { app_id = caller.AppId, datasets });
    }
}
