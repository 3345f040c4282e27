using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Streaming.Cdc;

/// <summary>GET /cdc/connectors: the connectors running in this process, with what each published and refused so far.</summary>
public static class ListConnectors
{
    public static IResult HandleAsync(CdcConnectors connectors) =>
        Results.Json(connectors.Running.Select(r => new
        {
            connector_id = r.Key, published = Interlocked.Read(ref r.Value.Published), rejected = Interlocked.Read(ref r.Value.Rejected)
        }), LedgerSetup.ApiJson);
}
