using System.Collections.Concurrent;
using System.Text;
using Marten;

namespace GovernanceLedger.Audit.Verifying;

/// <summary>
/// The stored columns of an event that its content hash does not cover, yet that change what the ledger reads back:
/// Marten leaves an archived event out of its stream, reads another tenant's events for that tenant only, and turns the
/// data into the .NET type named beside the alias. The ledger never archives an event, never moves one to another
/// tenant, never stores it as binary, and always names the type Marten maps to its alias. Anything else was written
/// behind the ledger's back (a pause hidden from its app, an event read as another), and verify says so.
/// </summary>
public sealed class EventColumns(IDocumentStore store)
{
    public const string Tenant = JasperFx.StorageConstants.DefaultTenantId;
    public static ReadOnlySpan<byte> TenantUtf8 => "*DEFAULT*"u8;

    /// <summary>The columns a walk reads beside the hashed ones, in this order.</summary>
    public const string Select = "e.tenant_id, e.is_archived, e.mt_dotnet_type, e.bdata is not null";

    /// <summary>The assemblies the ledger's events come from: a type named in any other is never one of its events.</summary>
    private static readonly Dictionary<string, System.Reflection.Assembly> Sources = new[]
    {
        typeof(Contracts.Access.AccessRecorded).Assembly, typeof(EventColumns).Assembly
    }.ToDictionary(a => a.GetName().Name!, StringComparer.Ordinal);

    private readonly ConcurrentDictionary<(string Alias, string DotNetType), bool> _pairs = new();

    /// <summary>Whether <paramref name="dotNetType"/> is the type Marten maps to <paramref name="alias"/>.</summary>
    public bool Maps(string alias, string dotNetType)
    {
        if (_pairs.TryGetValue((alias, dotNetType), out var known)) return known;
        var maps = Resolve((alias, dotNetType));
        // The names come from the table, so whoever edits it chooses them: only so many are remembered across verifies.
        if (_pairs.Count < 1_000) _pairs.TryAdd((alias, dotNetType), maps);
        return maps;
    }

    /// <summary>
    /// Marten's own placeholder: when a transaction fails after its sequence numbers were taken, Marten fills them with
    /// tombstone events on a stream of its own, so its daemon sees no gap. The ledger chains them like any event.
    /// </summary>
    public const string TombstoneStream = "mt_tombstone";
    private const string TombstoneAlias = "tombstone";
    private static readonly string TombstoneType = $"{typeof(JasperFx.Events.Tombstone).FullName}, {typeof(JasperFx.Events.Tombstone).Assembly.GetName().Name}";

    private bool Resolve((string Alias, string DotNetType) pair)
    {
        if (pair.Alias == TombstoneAlias || pair.DotNetType == TombstoneType) return pair.Alias == TombstoneAlias && pair.DotNetType == TombstoneType;
        // "Namespace.Type, Assembly": resolved only inside the ledger's own assemblies, so a stored name never loads code.
        var comma = pair.DotNetType.IndexOf(", ", StringComparison.Ordinal);
        if (comma <= 0 || !Sources.TryGetValue(pair.DotNetType[(comma + 2)..], out var assembly)
            || assembly.GetType(pair.DotNetType[..comma], throwOnError: false) is not { } type) return false;
        var mapping = ((Marten.Events.EventGraph)((StoreOptions)store.Options).Events).EventMappingFor(type);
        return mapping.EventTypeName == pair.Alias && mapping.DotNetTypeName == pair.DotNetType;
    }

    /// <summary>
    /// One walk's view: what it has already found to map, as bytes, so a row costs a span comparison rather than strings.
    /// Not shared between walks (they run in parallel).
    /// </summary>
    public Check ForWalk() => new(this);

    public sealed class Check(EventColumns columns)
    {
        private readonly List<(byte[] Alias, byte[] DotNetType, bool Maps)> _seen = [];

        /// <summary>What is wrong with the unhashed columns of a row, or null: the tenant, archived flag, .NET type and binary data.</summary>
        public string? Problem(ReadOnlySpan<byte> alias, ReadOnlySpan<byte> tenant, bool archived, ReadOnlySpan<byte> dotNetType, bool hasBinary)
        {
            if (archived) return "The event is marked archived (is_archived is not false): Marten leaves it out of its stream, so the decisions that read the stream no longer see it.";
            if (!tenant.SequenceEqual(TenantUtf8))
                return $"The event was moved to tenant '{Bounded(tenant)}' (tenant_id): the ledger's own reads no longer see it.";
            if (hasBinary) return "The event has binary data (bdata) beside its JSON: the ledger never stores any.";
            if (!TypeMaps(alias, dotNetType))
                return $"The event of type '{Bounded(alias)}' is stored as the .NET type '{Bounded(dotNetType)}' (mt_dotnet_type): it would be read as another event.";
            return null;
        }

        private bool TypeMaps(ReadOnlySpan<byte> alias, ReadOnlySpan<byte> dotNetType)
        {
            foreach (var (a, d, maps) in _seen)
                if (alias.SequenceEqual(a) && dotNetType.SequenceEqual(d)) return maps;
            var found = columns.Maps(Encoding.UTF8.GetString(alias), Encoding.UTF8.GetString(dotNetType));
            // Bounded: a table rewritten with a different name on every row is reported without remembering them all.
            if (_seen.Count < 1_000) _seen.Add((alias.ToArray(), dotNetType.ToArray(), found));
            return found;
        }

        // Cut, and no control characters: the text is whatever was written into the column.
        private static string Bounded(ReadOnlySpan<byte> text) =>
            new(Infrastructure.StrictJson.Bounded(Encoding.UTF8.GetString(text[..Math.Min(text.Length, 200)]), 120).Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }
}
