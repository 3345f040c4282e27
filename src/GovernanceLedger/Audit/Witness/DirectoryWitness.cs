using System.Text.Json;
using System.Text.Json.Serialization;
using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Audit.Witness;

/// <summary>
/// The default witness: a directory outside the database (Audit:WitnessDirectory), one file per
/// checkpoint named by its zero-padded tree size, created with FileMode.CreateNew (never
/// overwritten), fsync'd with its directory entry, then made read-only. Point it at storage the
/// database administrator cannot write: another machine's mount, or a directory synced to an
/// object-lock bucket.
/// </summary>
public sealed class DirectoryWitness : IChainWitness
{
    private const string Suffix = ".checkpoint.json";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    private readonly string _directory;

    public DirectoryWitness(string directory)
    {
        _directory = Path.GetFullPath(directory);
        Directory.CreateDirectory(_directory);
    }

    public string Location => _directory;

    private sealed record WitnessFile(
        [property: JsonPropertyName("tree_size")] long TreeSize,
        [property: JsonPropertyName("previous_tree_size")] long PreviousTreeSize,
        [property: JsonPropertyName("jws")] string Jws,
        [property: JsonPropertyName("leaves")] byte[] Leaves);   // base64 in the file

    public Task<WitnessedCheckpoint> WitnessAsync(WitnessedCheckpoint checkpoint, CancellationToken ct)
    {
        var path = PathOf(checkpoint.TreeSize);
        if (File.Exists(path)) return Task.FromResult(Read(path));
        var file = new WitnessFile(checkpoint.TreeSize, checkpoint.PreviousTreeSize, checkpoint.Jws, checkpoint.Leaves);
        try
        {
            DurableFiles.WriteNew(path, JsonSerializer.SerializeToUtf8Bytes(file, Json), DurableFiles.ReadOnly | UnixFileMode.UserWrite);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Written by another chainer between the check and the create: theirs stands, the caller compares.
            return Task.FromResult(Read(path));
        }
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, DurableFiles.ReadOnly);
        return Task.FromResult(checkpoint);
    }

    public Task<IReadOnlyList<WitnessedCheckpoint>> ReadAllAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<WitnessedCheckpoint>>(Files().Select(Read).ToList());

    public Task<WitnessedCheckpoint?> LatestAsync(CancellationToken ct) =>
        Task.FromResult(Files().LastOrDefault() is { } last ? Read(last) : null);

    /// <summary>The files in tree-size order (the zero-padded names sort that way).</summary>
    private List<string> Files() =>
        Directory.EnumerateFiles(_directory, "*" + Suffix).Order(StringComparer.Ordinal).ToList();

    private string PathOf(long treeSize) => Path.Combine(_directory, $"{treeSize:D20}{Suffix}");

    /// <summary>Reads one file; anything malformed is an InvalidDataException naming the file, which verify reports.</summary>
    private static WitnessedCheckpoint Read(string path)
    {
        try
        {
            var file = JsonSerializer.Deserialize<WitnessFile>(File.ReadAllBytes(path), Json);
            if (file is not { Jws.Length: > 0, Leaves: not null })
                throw new InvalidDataException($"{path} is not a witness checkpoint.");
            var leaves = file.Leaves;
            if (leaves.Length != (file.TreeSize - file.PreviousTreeSize) * 32)
                throw new InvalidDataException($"{path} holds {leaves.Length / 32} leaves for sequences {file.PreviousTreeSize + 1}..{file.TreeSize}.");
            return new WitnessedCheckpoint(file.TreeSize, file.PreviousTreeSize, file.Jws, leaves);
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw new InvalidDataException($"{path} is not a readable witness checkpoint: {e.Message}", e);
        }
    }
}
