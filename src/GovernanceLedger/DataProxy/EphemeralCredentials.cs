using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Contracts.Apps;
using GovernanceLedger.Policies;
using Marten;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GovernanceLedger.DataProxy;

/// <summary>A short-lived PostgreSQL login the proxy holds for one app on one source.</summary>
public sealed record AppLogin(string AppId, string Source, string Role, DateTimeOffset ValidUntil, NpgsqlDataSource DataSource, RowContext.Key Context);

/// <summary>
/// Per-app database logins: LOGIN roles with VALID UNTIL a short time ahead, members of a per-app
/// group role that may only SELECT the app's granted columns of the curated views of the datasets it
/// was granted. The views belong to a role that reads the base tables under row-level security, and
/// the policies read their context through governed.region() (see <see cref="RowContext"/>), so a
/// leaked login reads no more than the proxy would serve the app. Rotated before they run out; minting and expiry are ledger
/// events, the password never is. The proxy alone knows the password; apps never see one.
/// </summary>
public sealed class EphemeralCredentials(
    IConfiguration configuration, IOptionsMonitor<DataCatalog> catalog, IOptionsMonitor<DataProxyOptions> options,
    IDocumentStore store, TimeProvider clock, ILogger<EphemeralCredentials> logger) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, AppLogin> _logins = new();
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new();
    private readonly List<AppLogin> _retiring = [];
    private readonly ConcurrentDictionary<string, Lazy<Task<RowContext.Key>>> _contextKeys = new();

    public static string StreamFor(string appId) => $"db-credentials:{appId}";

    /// <summary>
    /// Written on every login this ledger mints. Roles belong to the whole PostgreSQL server, which other
    /// ledgers (a staging one, a test run) may also mint on: each reconciles only the logins tagged as its own.
    /// </summary>
    public string OwnerTag { get; } = TagFor(configuration.GetConnectionString("Ledger"));

    private static string TagFor(string? ledgerConnection)
    {
        var ledger = new NpgsqlConnectionStringBuilder(ledgerConnection ?? "");
        return $"govledger login minted by the ledger at {ledger.Host}:{ledger.Port}/{ledger.Database}";
    }

    public async Task<AppLogin> LoginAsync(string appId, string source, IReadOnlyList<DatasetRequest> grantedDatasets, CancellationToken ct)
    {
        var key = $"{appId}|{source}";
        var renewBefore = TimeSpan.FromMinutes(options.CurrentValue.CredentialLifetimeMinutes) / 3;
        if (_logins.TryGetValue(key, out var login) && login.ValidUntil - clock.GetUtcNow() > renewBefore) return login;

        var gate = _gates.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            if (_logins.TryGetValue(key, out login) && login.ValidUntil - clock.GetUtcNow() > renewBefore) return login;
            var fresh = await MintAsync(appId, source, grantedDatasets, ct);
            if (login is not null) lock (_retiring) _retiring.Add(login);
            _logins[key] = fresh;
            return fresh;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The logins this process holds or is about to drop itself.</summary>
    public IReadOnlySet<string> HeldRoles()
    {
        var roles = _logins.Values.Select(l => l.Role).ToHashSet();
        lock (_retiring) roles.UnionWith(_retiring.Select(l => l.Role));
        return roles;
    }

    /// <summary>
    /// Forgets a login the source no longer accepts (a leaked login can change its own password); the next
    /// query mints a fresh one, and the sweeper drops the old role.
    /// </summary>
    public void Invalidate(AppLogin login)
    {
        if (_logins.TryRemove(new($"{login.AppId}|{login.Source}", login)))
            lock (_retiring) _retiring.Add(login);
    }

    private async Task<AppLogin> MintAsync(string appId, string source, IReadOnlyList<DatasetRequest> grantedDatasets, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var validUntil = now.AddMinutes(options.CurrentValue.CredentialLifetimeMinutes);
        var slug = RoleSlug(appId);
        var group = $"app_grp_{slug}";
        var role = $"app_{slug}_{now:yyyyMMddHHmmss}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        var password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', 'x').Replace('/', 'y').TrimEnd('=');
        var datasets = catalog.CurrentValue.DatasetList.Where(d => d.Source == source)
            .Select(d => (Dataset: d, Grant: grantedDatasets.FirstOrDefault(g => g.Name == d.Name)))
            .Where(x => x.Grant is not null).ToList();

        var adminConnection = configuration.GetConnectionString(source)
            ?? throw new InvalidOperationException($"ConnectionStrings:{source} is not configured for the data proxy.");
        var context = await ContextKeyAsync(source, adminConnection, ct);
        await using (var admin = new NpgsqlConnection(adminConnection))
        {
            await admin.OpenAsync(ct);
            await using var tx = await admin.BeginTransactionAsync(ct);
            var sql = new StringBuilder();
            sql.AppendLine($"""
                do $$ begin
                  if not exists (select 1 from pg_roles where rolname = {Literal(group)}) then
                    create role {Ident(group)} nologin;
                  end if;
                end $$;
                """);
            // Start from nothing on every mint, so a group role that once held more keeps no leftover table or column.
            foreach (var schema in datasets.Select(d => SplitView(d.Dataset.View).Schema).Append("public").Distinct())
                sql.AppendLine($"revoke all on all tables in schema {Ident(schema)} from {Ident(group)};");
            foreach (var (dataset, grant) in datasets)
            {
                var (schema, view) = SplitView(dataset.View);
                // Only the columns the app was granted, and only on the curated view: a leaked login reads no
                // column the proxy would not serve, and never a base table.
                var granted = dataset.Fields.Where(grant!.Fields.Contains).ToList();
                if (granted.Count == 0) continue;
                var columns = string.Join(", ", granted.Select(Ident));
                sql.AppendLine($"grant usage on schema {Ident(schema)} to {Ident(group)};");
                sql.AppendLine($"grant select ({columns}) on {Ident(schema)}.{Ident(view)} to {Ident(group)};");
            }
            sql.AppendLine($"create role {Ident(role)} login password {Literal(password)} valid until {Literal(validUntil.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ssZ"))} in role {Ident(group)} connection limit 20;");
            sql.AppendLine($"comment on role {Ident(role)} is {Literal(OwnerTag)};");
            await using (var command = new NpgsqlCommand(sql.ToString(), admin, tx)) await command.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
        }

        try
        {
            await using var session = store.LightweightSession();
            session.Events.Append(StreamFor(appId), new DatabaseCredentialMinted(appId, role, group, validUntil, "data-proxy", now));
            await session.SaveChangesAsync(ct);
        }
        catch
        {
            // A login the ledger has no record of must not exist: it is dropped again before the failure surfaces.
            await using var admin = new NpgsqlConnection(adminConnection);
            await admin.OpenAsync(CancellationToken.None);
            await using var drop = new NpgsqlCommand($"drop role if exists {Ident(role)}", admin);
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
            throw;
        }
        logger.LogInformation("Minted database login {Role} for {AppId}, valid until {ValidUntil:O}", role, appId, validUntil);

        var builder = new NpgsqlConnectionStringBuilder(adminConnection)
        {
            Username = role, Password = password, MaxPoolSize = 20, ConnectionIdleLifetime = 60, ApplicationName = $"data-proxy:{appId}",
            // An app asks the same few query shapes over and over: prepared after a few uses, PostgreSQL stops
            // parsing and planning them (with the views' row-level security, planning is most of a small query's cost).
            MaxAutoPrepare = 32,
            // Its sessions carry nothing between queries (the row context is transaction-local), so nothing is reset on return to the pool.
            NoResetOnClose = true
        };
        return new AppLogin(appId, source, role, validUntil, NpgsqlDataSource.Create(builder.ConnectionString), context);
    }

    /// <summary>The source's row-context key, installed on first use (once per source and process).</summary>
    private Task<RowContext.Key> ContextKeyAsync(string source, string adminConnection, CancellationToken ct)
    {
        var lazy = _contextKeys.GetOrAdd(source, _ => new Lazy<Task<RowContext.Key>>(async () =>
        {
            await using var admin = new NpgsqlConnection(adminConnection);
            await admin.OpenAsync(CancellationToken.None);
            return await RowContext.EnsureAsync(admin, CancellationToken.None);
        }));
        var task = lazy.Value;
        // A failed install is tried again by the next request rather than cached.
        if (task.IsFaulted) _contextKeys.TryRemove(new(source, lazy));
        return task.WaitAsync(ct);
    }

    /// <summary>Drops logins that were rotated out or have run out, and records each expiry.</summary>
    public async Task SweepAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        List<AppLogin> done;
        lock (_retiring)
        {
            done = _retiring.ToList();
            _retiring.Clear();
        }
        foreach (var (key, login) in _logins)
            if (login.ValidUntil <= now && _logins.TryRemove(new(key, login))) done.Add(login);

        foreach (var login in done)
        {
            await login.DataSource.DisposeAsync();
            await using (var admin = new NpgsqlConnection(configuration.GetConnectionString(login.Source)))
            {
                await admin.OpenAsync(ct);
                await using var drop = new NpgsqlCommand($"drop role if exists {Ident(login.Role)}", admin);
                await drop.ExecuteNonQueryAsync(ct);
            }
            await using var session = store.LightweightSession();
            session.Events.Append(StreamFor(login.AppId), new DatabaseCredentialExpired(login.AppId, login.Role, "data-proxy", now));
            await session.SaveChangesAsync(ct);
        }
    }

    private static string RoleSlug(string appId)
    {
        var slug = appId.Replace('-', '_');
        return slug.Length <= 28 ? slug : $"{slug[..20]}_{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(appId)))[..7]}";
    }

    private static (string Schema, string View) SplitView(string view) =>
        view.Split('.') is [var schema, var name] ? (schema, name) : throw new InvalidOperationException($"Dataset view '{view}' must be schema-qualified.");

    internal static string Ident(string name) => "\"" + name.Replace("\"", "\"\"") + "\"";

    private static string Literal(string value) => "'" + value.Replace("'", "''") + "'";

    public async ValueTask DisposeAsync()
    {
        foreach (var login in _logins.Values) await login.DataSource.DisposeAsync();
    }
}

public sealed class DataProxyOptions
{
    public int MaxRows { get; init; } = 1000;
    public int StatementTimeoutSeconds { get; init; } = 5;
    public int CredentialLifetimeMinutes { get; init; } = 15;
    public string MaskingSalt { get; init; } = "";
}

/// <summary>Every minute: drop rotated-out and expired logins, then reconcile what other processes left behind.</summary>
public sealed class CredentialSweeper(EphemeralCredentials credentials, LoginReconciler reconciler, ILogger<CredentialSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1));
        while (await timer.WaitForNextTickAsync(stop).AsTask().ContinueWith(t => !t.IsCanceled && t.Result, CancellationToken.None))
        {
            try
            {
                await credentials.SweepAsync(stop);
                await reconciler.ReconcileAsync(stop);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                logger.LogWarning(e, "Sweeping database logins failed; retrying in a minute");
            }
        }
    }
}
