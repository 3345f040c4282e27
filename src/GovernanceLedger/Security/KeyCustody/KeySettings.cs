namespace GovernanceLedger.Security.KeyCustody;

/// <summary>
/// The "Keys" section. Directory holds the key files (shared by every instance of one ledger).
/// The key-encryption secret comes from GOVLEDGER_KEY_SECRET (or Keys:Secret, which the environment
/// variable Keys__Secret also sets); never put it in appsettings.
/// </summary>
public sealed class KeySettings
{
    public const string SecretVariable = "GOVLEDGER_KEY_SECRET";
    public const int MinimumSecretLength = 32;

    public string Directory { get; set; } = "";
    public string Secret { get; set; } = "";
    /// <summary>How often every instance looks for keys rotated by another one.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(1);
}
