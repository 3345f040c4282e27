using System.Globalization;
using System.Text.RegularExpressions;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using Marten;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GovernanceLedger.DataProxy;

/// <summary>
/// Finds the proxy's logins at every data source that the sweeper of a live process will not drop:
/// logins left by a process that stopped (run out, expiry never recorded) and logins whose minting was
/// never recorded (created, then the process died before the event committed). It drops them and records
/// each. A login is this ledger's only by its exact name shape and the tag this ledger wrote on it
/// (<see cref="EphemeralCredentials.OwnerTag"/>); an unrecorded one is left alone for
/// <see cref="Grace"/> after the time in its name, so another instance's mint in flight is never taken.
/// </summary>
public sealed partial class LoginReconciler(
    IConfiguration configuration, IOptionsMonitor<DataCatalog> catalog, EphemeralCredentials credentials, IDocumentStore store,
    TimeProvider clock, ILogger<LoginReconciler> logger)
{
    public static readonly TimeSpan Grace = TimeSpan.FromMinutes(2);
    public const string StreamId = "db-credentials:reconciler";

    [GeneratedRegex(@"\Aapp_[a-z0-9_]{1,28}_(?<minted>\d{14})_[0-9a-f]{6}\z")]
    private static partial Regex ProxyLogin();

    private readonly OneAtATime _looks = new();

    /// <summary>One look at every source (one at a time in this process); returns what was removed or closed.</summary>
    public Task<IReadOnlyList<object>> ReconcileAsync(CancellationToken ct) => _looks.RunAsync(LookAsync, ct);

    private async Task<IReadOnlyList<object>> LookAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var held = credentials.HeldRoles();
        var done = new List<object>();
        foreach (var source in catalog.CurrentValue.DatasetList.Select(d => d.Source).Where(s => s.Length > 0).Distinct())
        {
            if (configuration.GetConnectionString(source) is not { } connectionString) continue;
            await using var connection = new NpgsqlConnection(connectionString);
            try
            {
                await connection.OpenAsync(ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
            {
                continue;   // the source database does not exist (yet): no login of ours can be there
            }
            var found = new List<(string Role, DateTimeOffset? ValidUntil, DateTimeOffset Minted)>();
            await using (var list = new NpgsqlCommand(
                "select rolname::text, rolvaliduntil from pg_roles where rolcanlogin and rolname like 'app\\_%' and shobj_description(oid, 'pg_authid') = $1", connection)
                { Parameters = { new() { Value = credentials.OwnerTag } } })
            await using (var reader = await list.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct))
                {
                    var role = reader.GetString(0);
                    if (ProxyLogin().Match(role) is not { Success: true } match || held.Contains(role)) continue;
                    var minted = DateTimeOffset.ParseExact(match.Groups["minted"].Value, "yyyyMMddHHmmss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
                    found.Add((role, reader.IsDBNull(1) ? null : new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero), minted));
                }
            if (found.Count == 0) continue;

            var names = found.Select(f => f.Role).ToArray();
            Dictionary<string, DatabaseCredentialMinted> recorded;
            HashSet<string> closed;
            await using (var query = store.QuerySession())
            {
                recorded = (await query.Events.QueryRawEventDataOnly<DatabaseCredentialMinted>().Where(e => names.Contains(e.Role)).ToListAsync(ct))
                    .ToDictionary(e => e.Role);
                closed = (await query.Events.QueryRawEventDataOnly<DatabaseCredentialExpired>().Where(e => names.Contains(e.Role)).ToListAsync(ct))
                    .Select(e => e.Role).ToHashSet();
            }

            foreach (var (role, validUntil, minted) in found)
            {
                var ranOut = validUntil is { } until && until <= now;
                object? record = recorded.TryGetValue(role, out var mint)
                    ? ranOut ? new DatabaseCredentialExpired(mint.AppId, role, "ledger-reconciler", now) : null
                    : ranOut || now - minted >= Grace
                        ? new DatabaseLoginOrphanRemoved(source, role, "no record of its minting", "ledger-reconciler", now)
                        : null;
                if (record is null) continue;
                await using (var drop = new NpgsqlCommand($"drop role if exists {EphemeralCredentials.Ident(role)}", connection))
                    await drop.ExecuteNonQueryAsync(ct);
                // An expiry another look already recorded is not recorded twice.
                if (record is DatabaseCredentialExpired && closed.Contains(role)) continue;
                var stream = record is DatabaseCredentialExpired expired ? EphemeralCredentials.StreamFor(expired.AppId) : StreamId;
                await GovernanceLedger.Apps.AppStream.AppendWithRetryAsync(store, stream, record, ct);
                logger.LogWarning("Dropped database login {Role} at {Source}: {Record}", role, source, record.GetType().Name);
                done.Add(record);
            }
        }
        return done;
    }
}
