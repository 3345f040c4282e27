using System.Diagnostics;
using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace GovernanceLedger.Telemetry;

/// <summary>Traces and metrics for the ledger, tagged with app_id (never a person) so dashboards can slice by app.</summary>
public sealed class LedgerTelemetry
{
    public const string Name = "GovernanceLedger";
    public static readonly ActivitySource Source = new(Name);
    private readonly Meter _meter;

    /// <summary>The meter comes from the host's factory, which owns and disposes it with the host.</summary>
    /// <summary>
    /// The meter's name: "GovernanceLedger", or Telemetry:MeterName. Only a process that hosts several ledgers (the test
    /// suite) sets it: meters of one name are one metric stream to every host's metrics pipeline in the process, so one
    /// host stopping would otherwise reset the others' series.
    /// </summary>
    public static string MeterName(IConfiguration configuration) => configuration["Telemetry:MeterName"] is { Length: > 0 } name ? name : Name;

    public LedgerTelemetry(IMeterFactory meters, IConfiguration configuration)
    {
        _meter = meters.Create(MeterName(configuration));
        Registrations = _meter.CreateCounter<long>("ledger_app_registrations_total", description: "App registrations by outcome");
        TokensIssued = _meter.CreateCounter<long>("ledger_app_tokens_issued_total", description: "App tokens issued");
        Decisions = _meter.CreateCounter<long>("ledger_policy_decisions_total", description: "Policy verdicts by policy and outcome");
        GatewayRequests = _meter.CreateCounter<long>("api_gateway_requests_total", description: "Gateway requests by app, route, status and decision");
        GatewayDuration = _meter.CreateHistogram<double>("api_gateway_request_duration", unit: "ms", description: "Gateway latency to upstream response headers");
        Queries = _meter.CreateCounter<long>("data_proxy_queries_total", description: "Data proxy queries by app, dataset, status and decision");
        QueryDuration = _meter.CreateHistogram<double>("data_proxy_query_duration", unit: "ms", description: "Data proxy query latency");
        QueryRows = _meter.CreateCounter<long>("data_proxy_rows_total", description: "Rows returned by the data proxy");
        AuditStreamEvents = _meter.CreateCounter<long>("audit_stream_events_total", description: "Ledger events acknowledged on the audit topic");
        AuditStreamLag = _meter.CreateHistogram<double>("audit_stream_lag", unit: "ms", description: "Ledger append to broker acknowledgement, per event");
        CdcChanges = _meter.CreateCounter<long>("cdc_changes_total", description: "CDC changes by connector and outcome (published or dead_lettered)");
        Stages = _meter.CreateHistogram<double>("data_plane_stage_duration", unit: "ms",
            description: "Where a data-plane request's time goes, by stage: token, directory, policy, limits, schema, reveal, forward, mask, event_build, commit_wait (one lap in 16, sampled at random)");
        JournalFlushes = _meter.CreateCounter<long>("data_plane_journal_flushes_total",
            description: "Groups of access events flushed to the host's access journal, each with one fdatasync (served requests per flush is the group size)");
        Anomalies = _meter.CreateCounter<long>("ledger_anomalies_total", description: "Anomalies the ledger acted on, by app, detector policy and action (alert, throttle or pause)");
        _meter.CreateObservableGauge("ledger_app_month_cost", () => _monthCosts.Select(c => new Measurement<double>((double)c.Value, new KeyValuePair<string, object?>("app_id", c.Key))),
            description: "Each app's cost so far this month, priced by the rate card in force, in the rate card's currency (exported by the instance that watches budgets)");
        _meter.CreateObservableGauge("ledger_app_throttle_requests_per_second", () => _throttles?.Invoke() ?? [],
            description: "The requests per second an app is held to while a throttle (anomaly or budget) holds; absent when it is not throttled");
    }

    private IReadOnlyDictionary<string, decimal> _monthCosts = new Dictionary<string, decimal>();
    private Func<IEnumerable<Measurement<int>>>? _throttles;

    /// <summary>This month's cost per app, as last priced.</summary>
    public void MonthCosts(IReadOnlyDictionary<string, decimal> perApp) => _monthCosts = perApp;

    /// <summary>Where the throttle gauge reads the apps held down now.</summary>
    public void ObserveThrottles(Func<IEnumerable<Measurement<int>>> throttles) => _throttles = throttles;

    public Counter<long> GatewayRequests { get; }
    public Histogram<double> GatewayDuration { get; }
    public Counter<long> Queries { get; }
    public Histogram<double> QueryDuration { get; }
    public Counter<long> QueryRows { get; }

    public Histogram<double> Stages { get; }

    /// <summary>
    /// One lap in this many is recorded in the stage histogram, each chosen at random: the histogram's shape and mean per
    /// stage are those of every lap, at a sixteenth of the cost (ten records a request were a tenth of a microsecond short
    /// of two on the data plane's hot path). Its counts are of sampled laps, not of requests.
    /// </summary>
    public const int StageSampling = 16;

    /// <summary>Records the time since <paramref name="since"/> as one stage of a data-plane request (one lap in <see cref="StageSampling"/>); returns now, where the next stage starts.</summary>
    public long Lap(string stage, long since)
    {
        var now = Stopwatch.GetTimestamp();
        if (Random.Shared.Next(StageSampling) == 0)
            Stages.Record(Stopwatch.GetElapsedTime(since, now).TotalMilliseconds, new KeyValuePair<string, object?>("stage", stage));
        return now;
    }

    public Counter<long> JournalFlushes { get; }
    public Counter<long> AuditStreamEvents { get; }
    public Histogram<double> AuditStreamLag { get; }
    public Counter<long> CdcChanges { get; }
    public Counter<long> Anomalies { get; }

    public Counter<long> Registrations { get; }
    public Counter<long> TokensIssued { get; }
    public Counter<long> Decisions { get; }

}

public static class TelemetrySetup
{
    /// <summary>ASP.NET Core meters left out of /metrics unless kept (Metrics:KeepMeters).</summary>
    public static readonly IReadOnlyList<string> DroppedMeters =
        ["Microsoft.AspNetCore.MemoryPool", "Microsoft.AspNetCore.Routing", "Microsoft.AspNetCore.Authentication", "Microsoft.AspNetCore.Authorization"];

    public static WebApplicationBuilder AddLedgerTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<LedgerTelemetry>();
        DistributedContextPropagator.Current = new OwnTraces();
        builder.Services.AddSingleton<DistributedContextPropagator>(new OwnTraces());
        var otlp = builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Configuration["OTEL_SERVICE_NAME"] ?? "governance-ledger"));
        // Spans cost on every request; record them only when there is somewhere to send them.
        if (!string.IsNullOrWhiteSpace(otlp))
            telemetry.WithTracing(t => t
                .AddAspNetCoreInstrumentation()
                .AddSource(LedgerTelemetry.Name).AddSource("Wolverine").AddSource("Marten")
                .AddOtlpExporter());
        telemetry
            .WithMetrics(m =>
            {
                var meter = LedgerTelemetry.MeterName(builder.Configuration);
                // System.Runtime: the runtime's own instruments (collections per generation, heap sizes, thread-pool queue).
                m.AddAspNetCoreInstrumentation().AddMeter(meter).AddMeter("Wolverine").AddMeter("Marten").AddMeter("System.Runtime");
                // The ledger's instruments carry app_id: at the SDK's default of 2,000 series per instrument, a few hundred apps
                // times routes and statuses would push new apps' series into the overflow series, and their dashboards would go blank.
                var limit = builder.Configuration.GetValue("Metrics:CardinalityLimit", 50_000);
                // Meters that count on every request without saying anything the request duration and the ledger's own
                // instruments do not (Kestrel's memory pool counts each block rented and returned, routing each match):
                // dropped unless named in Metrics:KeepMeters. Each is an aggregation with tags on the data plane's hot path.
                var dropped = DroppedMeters.Except(builder.Configuration.GetSection("Metrics:KeepMeters").Get<string[]>() ?? [], StringComparer.Ordinal).ToHashSet();
                m.AddView(instrument => instrument.Meter.Name == meter ? new MetricStreamConfiguration { CardinalityLimit = limit }
                    : dropped.Contains(instrument.Meter.Name) ? MetricStreamConfiguration.Drop : null);
                m.AddPrometheusExporter();
                if (!string.IsNullOrWhiteSpace(otlp)) m.AddOtlpExporter();
            });
        return builder;
    }
}
