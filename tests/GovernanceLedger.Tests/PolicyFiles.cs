namespace GovernanceLedger.Tests;

/// <summary>The policies shipped in policies/, counted from the files, so no test hard-codes how many there are.</summary>
public static class PolicyFiles
{
    private static readonly Lazy<IReadOnlyList<(string Id, string Stage)>> Shipped = new(() =>
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !Directory.Exists(Path.Combine(directory.FullName, "policies"))) directory = directory.Parent;
        if (directory is null) throw new InvalidOperationException("policies/ not found above the test binaries");
        return Directory.GetFiles(Path.Combine(directory.FullName, "policies"), "*.policy.yaml")
            .Select(file =>
            {
                var lines = File.ReadAllLines(file);
                string Value(string key) => lines.FirstOrDefault(l => l.StartsWith(key + ":", StringComparison.Ordinal))?[(key.Length + 1)..].Trim() ?? "";
                var stage = Value("stage");
                return (Value("id"), stage.Length == 0 ? "registration" : stage);
            }).ToList();
    });

    public static int All => Shipped.Value.Count;

    /// <summary>The policies every registration is checked against.</summary>
    public static int Registration => Shipped.Value.Count(p => p.Stage == "registration");
}
