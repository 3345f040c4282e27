using GovernanceLedger.Contracts.Apps;
using JasperFx.Events;
using Marten.Events.Aggregation;

namespace GovernanceLedger.Apps;

/// <summary>
/// How Marten folds an app's lifecycle stream into <see cref="App"/> when a command fetches it for writing:
/// live (never stored), through the same <see cref="App.Replay"/> the unit tests use.
/// </summary>
public sealed partial class AppWriteModel : SingleStreamProjection<App, string>
{
    public override App? Evolve(App? snapshot, string id, IEvent e) =>
        e.Data is AppRegistered registered ? App.Registered(registered) : snapshot?.Evolve(e.Data);
}
