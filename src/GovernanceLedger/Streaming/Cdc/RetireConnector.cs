using GovernanceLedger.Contracts.Streaming;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Marten;

namespace GovernanceLedger.Streaming.Cdc;

/// <summary>
/// DELETE /cdc/connectors/{id}?reason= (platform admin): stops the connector and drops its replication
/// slot and publication, so the source stops keeping WAL for it; recorded as CdcConnectorRetired.
/// </summary>
public static class RetireConnector
{
    // An explicit endpoint rather than the aggregate workflow: the slot and publication at the source are
    // dropped first, then the retirement recorded; no ledger transaction can include the source.
    public static async Task<IResult> HandleAsync(string connectorId, string? reason, HttpContext http, IDocumentStore store,
        CdcConnectors connectors, TimeProvider clock, CancellationToken ct)
    {
        var caller = Caller.From(http.User);
        if (reason is not { Length: > 0 }) return Problem.Invalid("reason", "required", "reason is required (query string).").ToResult();
        var declared = (await connectors.DeclaredAsync(ct)).FirstOrDefault(d => d.ConnectorId == connectorId);
        if (declared is null) return Problem.NotFound($"No active CDC connector '{connectorId}'.").ToResult();

        await connectors.RetireAsync(declared, ct);
        var retired = new CdcConnectorRetired(connectorId, reason, caller.Actor, clock.GetUtcNow());
        await using var session = store.LightweightSession();
        session.Events.Append(CdcConnectors.StreamOf(connectorId), retired);
        await session.SaveChangesAsync(ct);
        return Results.Json(retired, LedgerSetup.ApiJson);
    }
}
