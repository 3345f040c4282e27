using GovernanceLedger.Policies;
using JasperFx.Events.Projections;
using Marten;

namespace GovernanceLedger.Operations.Detecting;

/// <summary>
/// The detectors' projection, built with the policy engine that judges each batch, on the async daemon.
/// <c>Operations:Detectors=false</c> turns detection off (it is on by default).
/// </summary>
public sealed class DetectingSetup(PolicyEngine policies, IConfiguration configuration) : IConfigureMarten
{
    public void Configure(IServiceProvider services, StoreOptions options)
    {
        if (configuration.GetValue("Operations:Detectors", true))
            options.Projections.Add(new AppActivityProjection(policies), ProjectionLifecycle.Async);
    }
}
