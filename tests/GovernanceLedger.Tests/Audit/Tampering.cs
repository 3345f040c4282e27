using System.Diagnostics;
using GovernanceLedger.Audit;
using Npgsql;

namespace GovernanceLedger.Tests.Audit;

/// <summary>
/// What an attacker with the database's superuser can do, by direct SQL: switch the append-only
/// triggers off for a session, rewrite rows, recompute the chain, search every table for keys.
/// </summary>
public static class Tampering
{
    public static async Task<NpgsqlConnection> Superuser(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        return connection;
    }

    public static async Task Exec(NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value });
        await command.ExecuteNonQueryAsync();
    }

    public static async Task<T> Scalar<T>(NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value });
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Runs tampering SQL with the append-only triggers switched off for this session only.</summary>
    public static async Task As(string connectionString, Func<NpgsqlConnection, Task> change)
    {
        await using var connection = await Superuser(connectionString);
        await Exec(connection, "set session_replication_role = replica");
        await change(connection);
    }

    /// <summary>
    /// Recomputes content hashes and links from <paramref name="from"/> to the head so that the chain
    /// agrees with the (edited) events: the rewrite an attacker does to make the chain look intact.
    /// </summary>
    public static async Task RewriteChainFrom(NpgsqlConnection connection, long from)
    {
        var previous = from == 1 ? HashChain.Genesis
            : await Scalar<byte[]>(connection, "select link from ledger.chain_links where seq_id < $1 order by seq_id desc limit 1", from);
        var rows = new List<(long Seq, string Kind, ChainedEvent? Event)>();
        await using (var command = new NpgsqlCommand("""
            select l.seq_id, l.kind, e.seq_id is not null, e.stream_id, e.version, e.type, e.timestamp, e.data::text,
                   l.format, e.id, e.correlation_id, e.causation_id
            from ledger.chain_links l left join ledger.mt_events e on e.seq_id = l.seq_id where l.seq_id >= $1 order by l.seq_id
            """, connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = from });
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                rows.Add((reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2)
                    ? new ChainedEvent(reader.GetInt64(0), reader.GetString(3), reader.GetInt64(4), reader.GetString(5),
                        reader.GetFieldValue<DateTimeOffset>(6), reader.GetString(7), reader.GetInt16(8), reader.GetGuid(9),
                        reader.IsDBNull(10) ? null : reader.GetString(10), reader.IsDBNull(11) ? null : reader.GetString(11))
                    : null));
        }
        foreach (var (seq, kind, e) in rows)
        {
            var content = e is null ? HashChain.HoleContentHash(seq) : HashChain.ContentHash(e);
            previous = HashChain.Link(previous, content);
            await Exec(connection, "update ledger.chain_links set content_hash = $2, link = $3, kind = $4 where seq_id = $1",
                seq, content, previous, e is null ? "hole" : kind);
        }
    }

    /// <summary>Every user table of the database, each row as text: where an attacker with SELECT looks for key material.</summary>
    public static async Task<List<(string Table, string Row)>> EveryRow(NpgsqlConnection connection)
    {
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("""
            select format('%I.%I', table_schema, table_name) from information_schema.tables
            where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
            """, connection))
        await using (var reader = await list.ExecuteReaderAsync())
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        var rows = new List<(string, string)>();
        foreach (var table in tables)
        {
            await using var select = new NpgsqlCommand($"select t::text from {table} t", connection);
            await using var reader = await select.ExecuteReaderAsync();
            while (await reader.ReadAsync()) rows.Add((table, reader.GetString(0)));
        }
        return rows;
    }

    /// <summary>Every way a private key of the store could be written down: PKCS#8, and the private exponent and primes in base64, base64url and hex.</summary>
    public static async Task<List<string>> PrivateKeyMaterial(GovernanceLedger.Security.KeyCustody.IKeyStore keyStore)
    {
        var needles = new List<string> { "PRIVATE KEY" };
        foreach (var key in await keyStore.ListAsync(CancellationToken.None))
        {
            var rsa = ((Microsoft.IdentityModel.Tokens.RsaSecurityKey)await keyStore.SigningKeyAsync(key.KeyId, CancellationToken.None)).Rsa;
            var parameters = rsa.ExportParameters(true);
            needles.Add(Convert.ToBase64String(rsa.ExportPkcs8PrivateKey())[..64]);
            foreach (var secret in new[] { parameters.D!, parameters.P!, parameters.Q! })
            {
                needles.Add(Convert.ToBase64String(secret)[..40]);
                needles.Add(Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(secret)[..40]);
                needles.Add(Convert.ToHexStringLower(secret)[..40]);
            }
        }
        return needles;
    }

    /// <summary>Runs the README's offline verifier; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> OfflineVerifier(params string[] arguments)
    {
        var script = Path.Combine(RepositoryRoot(), "scripts", "verify_ledger.py");
        var info = new ProcessStartInfo("python3", [script, .. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info) ?? throw new InvalidOperationException("python3 did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "GovernanceLedger.sln"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("GovernanceLedger.sln not found above the test binaries");
    }
}
