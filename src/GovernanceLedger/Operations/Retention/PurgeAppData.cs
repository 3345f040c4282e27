using System.Net.Http.Json;
using System.Text.Json.Nodes;
using GovernanceLedger.Apps;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Gateway;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Marten;

namespace GovernanceLedger.Operations.Retention;

/// <summary>Purge a retired app's data once its retention has run out (scheduled by the retirement for that moment).</summary>
public sealed record PurgeAppData(string AppId);

/// <summary>A store that keeps app data did not confirm a purge: the message is tried again later.</summary>
public sealed class RetentionStoreException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The stores that keep data apps write are the upstreams behind gateway routes with a <c>Retention</c> block. The
/// contract each implements: <c>POST {upstream}{PurgePath}</c> with <c>{"app_id", "purge_id"}</c> removes every record the
/// app wrote and answers 200 <c>{"purged": n}</c>; the same purge_id again removes nothing more and answers the same n.
/// That repeatability is what makes a purge safe to retry after a crash between the store's answer and the ledger's record.
/// </summary>
public sealed class RetentionStores(IHttpClientFactory clients, IOptionsMonitor<GatewayOptions> gateway)
{
    public const string Client = "retention";

    public IReadOnlyList<GatewayRoute> Keeping => gateway.CurrentValue.Routes.Where(r => r.Retention is { PurgePath.Length: > 0 }).ToList();

    public async Task<IReadOnlyList<PurgedData>> PurgeAsync(string appId, CancellationToken ct)
    {
        var purged = new List<PurgedData>();
        using var client = clients.CreateClient(Client);
        foreach (var route in Keeping)
        {
            // The purge goes to the route's own upstream, never elsewhere: a path, not an address.
            var purgePath = route.Retention!.PurgePath;
            if (!purgePath.StartsWith('/') || purgePath.StartsWith("//", StringComparison.Ordinal) || purgePath.Contains("://", StringComparison.Ordinal))
                throw new RetentionStoreException($"Route '{route.Name}' names Retention:PurgePath '{purgePath}', which is not a path on its upstream.");
            var target = new Uri(new Uri(route.Upstream.TrimEnd('/') + "/"), purgePath.TrimStart('/'));
            using var request = new HttpRequestMessage(HttpMethod.Post, target)
            {
                Content = JsonContent.Create(new JsonObject { ["app_id"] = appId, ["purge_id"] = $"{appId}:{route.Name}" })
            };
            request.Headers.TryAddWithoutValidation("X-App-Id", appId);
            HttpResponseMessage response;
            try
            {
                response = await client.SendAsync(request, ct);
            }
            catch (HttpRequestException e)
            {
                throw new RetentionStoreException($"The store behind route '{route.Name}' could not be reached to purge {appId}'s data.", e);
            }
            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                if (!response.IsSuccessStatusCode)
                    throw new RetentionStoreException($"The store behind route '{route.Name}' answered {(int)response.StatusCode} to the purge of {appId}'s data.");
                // Anything but a count the store stands behind is not a purge.
                long? records = null;
                try
                {
                    records = JsonNode.Parse(text) is JsonObject o && o["purged"] is JsonValue v && v.TryGetValue<long>(out var n) && n >= 0 ? n : null;
                }
                catch (System.Text.Json.JsonException) { }
                purged.Add(new PurgedData(route.Name, route.Dataset,
                    records ?? throw new RetentionStoreException($"The store behind route '{route.Name}' did not answer the purge of {appId}'s data with a count.")));
            }
        }
        return purged;
    }
}

public static class PurgeAppDataHandler
{
    public const string Actor = "ledger";

    public static bool Due(App app, DateTimeOffset now) =>
        app is { Status: AppStatus.Retired, RetainUntil: { } until, DataPurgedAt: null } && now >= until;

    public static Decision Decide(App app, IReadOnlyList<PurgedData> purged, DateTimeOffset now) =>
        Due(app, now)
            ? Decision.Accept(new AppDataPurged(app.Id, purged, purged.Sum(p => p.Records), app.RetainUntil!.Value, Actor, now))
            : Decision.Accept();

    /// <summary>A store that is down is asked again: soon, then over the following hours, before the message is dead-lettered.</summary>
    public static void Configure(Wolverine.Runtime.Handlers.HandlerChain chain) =>
        chain.OnException<RetentionStoreException>()
            .RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10))
            .Then.ScheduleRetry(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), TimeSpan.FromHours(6));

    public static async Task<(Events, OutgoingMessages)> Handle(PurgeAppData message, [WriteAggregate(Required = false)] IEventStream<App> app,
        RetentionStores stores, IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        var messages = new OutgoingMessages();
        var now = clock.GetUtcNow();
        if (app.Aggregate is not { } current) return ([], messages);
        // Early (a clock ahead of the ledger's): asked again when the retention really ends.
        if (current is { Status: AppStatus.Retired, RetainUntil: { } until, DataPurgedAt: null } && now < until)
        {
            messages.Schedule(message, until);
            return ([], messages);
        }
        if (!Due(current, now)) return ([], messages);
        var purged = await stores.PurgeAsync(current.Id, ct);
        var outcome = await AppStream.DecideAsync(app, null, "purge-data", Caller.Ledger, now, a => Decide(a, purged, now), store, ct);
        return (outcome.Events, messages);
    }
}
