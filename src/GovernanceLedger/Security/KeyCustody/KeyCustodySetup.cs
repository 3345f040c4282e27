using System.Security.Cryptography;
using Npgsql;

namespace GovernanceLedger.Security.KeyCustody;

/// <summary>
/// Where keys live and how they are sealed. Outside Development the host refuses to start without a
/// key directory and a key-encryption secret. In Development both default to something that works on
/// one machine: a directory per ledger database under the temp directory, and a generated secret kept
/// beside the keys (which protects nothing, hence the warning).
/// </summary>
public static class KeyCustodySetup
{
    public static WebApplicationBuilder AddKeyCustody(this WebApplicationBuilder builder)
    {
        var settings = builder.Configuration.GetSection("Keys").Get<KeySettings>() ?? new KeySettings();
        var development = builder.Environment.IsDevelopment();
        if (string.IsNullOrWhiteSpace(settings.Directory))
        {
            if (!development)
                throw new InvalidOperationException(
                    "Keys:Directory is not set: private keys never live in the ledger database, so say where the key store is (Keys__Directory).");
            settings.Directory = DevelopmentDirectory("keys", builder.Configuration.GetConnectionString("Ledger"));
        }
        settings.Secret = Environment.GetEnvironmentVariable(KeySettings.SecretVariable) is { Length: > 0 } fromEnvironment
            ? fromEnvironment : settings.Secret;
        if (string.IsNullOrWhiteSpace(settings.Secret))
        {
            if (!development)
                throw new InvalidOperationException(
                    $"{KeySettings.SecretVariable} is not set: the key store's private keys are encrypted at rest with a secret from the environment.");
            settings.Secret = DevelopmentSecret(settings.Directory);
        }

        var keyStore = new DirectoryKeyStore(settings.Directory, new KeyEncryption(settings.Secret));
        settings.Secret = "";   // the store holds the derived key; nothing else needs the secret
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<IKeyStore>(keyStore);
        builder.Services.AddHostedService<KeyRingFollower>();
        return builder;
    }

    /// <summary>A per-database directory, so test and benchmark ledgers on one machine never share keys or witnesses.</summary>
    public static string DevelopmentDirectory(string kind, string? connectionString)
    {
        var database = new NpgsqlConnectionStringBuilder(connectionString ?? "").Database ?? "default";
        return Path.Combine(Path.GetTempPath(), "govledger", kind, database);
    }

    private static string DevelopmentSecret(string directory)
    {
        var path = Path.Combine(directory, "development-only.secret");
        if (File.Exists(path)) return File.ReadAllText(path).Trim();
        Directory.CreateDirectory(directory);
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48));
        try
        {
            GovernanceLedger.Infrastructure.DurableFiles.WriteNew(path, System.Text.Encoding.UTF8.GetBytes(secret),
                GovernanceLedger.Infrastructure.DurableFiles.OwnerReadWrite);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another instance generated it first: use theirs.
            return File.ReadAllText(path).Trim();
        }
        Console.Error.WriteLine(
            $"WARNING: {KeySettings.SecretVariable} is not set; Development generated one and keeps it in {path}, beside the keys it protects. " +
            "Set the variable anywhere else.");
        return secret;
    }
}
