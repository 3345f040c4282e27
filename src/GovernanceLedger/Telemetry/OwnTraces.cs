using System.Diagnostics;

namespace GovernanceLedger.Telemetry;

/// <summary>
/// Incoming trace context (traceparent, tracestate, baggage, Request-Id, Correlation-Context) is never
/// trusted: every request starts a trace of its own, so no caller chooses the trace or correlation id the
/// ledger records or the baggage an upstream receives. Outgoing calls carry the ledger's own W3C context.
/// </summary>
public sealed class OwnTraces : DistributedContextPropagator
{
    private static readonly DistributedContextPropagator Outgoing = CreateW3CPropagator();

    public override IReadOnlyCollection<string> Fields => Outgoing.Fields;

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter) => Outgoing.Inject(activity, carrier, setter);

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState)
    {
        traceId = null;
        traceState = null;
    }

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) => null;
}
