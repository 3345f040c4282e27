namespace GovernanceLedger.Apps.Registering;

/// <summary>
/// Ids no app may take. An app's trail is read by stream id: its lifecycle stream is named by its id, and its access
/// streams by "access:{id}:…". The ledger's own streams whose names an app id could spell (no ':' in them), and the
/// name under which requests without a valid token are recorded, would otherwise make their events that app's: its
/// owner would read every caller's refusals, or the ledger's keys and checkpoints, as their app's timeline.
/// </summary>
public static class ReservedAppIds
{
    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        DataPlane.Denial.Unauthenticated,
        Security.SigningKeys.StreamId,
        Audit.LedgerChainer.CheckpointStream,
        Chargeback.RateCards.StreamId,
        Streaming.Cdc.CdcReconciler.StreamId
    };

    public static bool Contains(string appId) => All.Contains(appId);

    /// <summary>The refusal of a manifest that names a reserved id, or null.</summary>
    public static Infrastructure.Problem? Refusal(string appId) => Contains(appId)
        ? Infrastructure.Problem.Invalid("app_id", "reserved", $"app_id '{appId}' names one of the ledger's own records; choose another app_id.")
        : null;
}
