namespace GovernanceLedger.Contracts.Warehouse;

/// <summary>
/// One column a curated export wrote: its warehouse type, the bytes it holds (what a query reading it scans), the source
/// columns it was computed from, and the hash it went through when a source column is PII (null when none did).
/// </summary>
/// <param name="Keyed">Computed from PII, so stored as a keyed hash of what the export's SQL answered (absent in runs before it was).</param>
public sealed record ExportedColumn(string Name, string Type, long Bytes, IReadOnlyList<string> DerivedFrom, string? Transform, bool Keyed = false);

/// <summary>
/// A curated export ran: <paramref name="Rows"/> rows (<paramref name="Bytes"/> bytes) copied from the source dataset into the
/// warehouse table <paramref name="Target"/> by the sanitizing definition whose hash is <paramref name="DefinitionSha256"/>.
/// The table was replaced whole, in one warehouse transaction. <paramref name="Trigger"/> is on-demand or schedule.
/// </summary>
public sealed record WarehouseExportRan(
    string Export, Guid RunId, string Source, string SourceDataset, IReadOnlyList<string> SourceTables, string Warehouse, string Target,
    long Rows, long Bytes, double DurationMs, string DefinitionSha256, IReadOnlyList<ExportedColumn> Columns, string Trigger,
    string Actor, DateTimeOffset At);

/// <summary>An export was refused before it read anything: its definition would let PII leave unhashed, or does not parse.</summary>
public sealed record WarehouseExportRefused(
    string Export, Guid RunId, string DefinitionSha256, IReadOnlyList<string> Findings, string Trigger, string Actor, DateTimeOffset At);

/// <summary>An export started and failed; the warehouse table it would have replaced is unchanged.</summary>
public sealed record WarehouseExportFailed(
    string Export, Guid RunId, string DefinitionSha256, string Reason, string Trigger, string Actor, DateTimeOffset At);

/// <summary>
/// A typed parameter of a query template. Strings carry a maximum length and may be held to a pattern or a list;
/// numbers to a range.
/// </summary>
public sealed record TemplateParameter(
    string Name, string Type, int? MaxLength = null, string? Pattern = null, IReadOnlyList<string>? Enum = null,
    decimal? Minimum = null, decimal? Maximum = null);

/// <summary>
/// A version of a named, parameterised warehouse query was proposed. <paramref name="Columns"/> names, per dataset, the columns
/// it reads (what an app must be granted to run it); <paramref name="Output"/> the columns it answers with.
/// </summary>
public sealed record QueryTemplateProposed(
    string Name, int Version, string Description, string Sql, IReadOnlyList<TemplateParameter> Parameters,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Columns, IReadOnlyList<string> Output, string Sha256,
    string Actor, IReadOnlyList<string> ActorNames, DateTimeOffset At);

/// <summary>A reviewer approved a proposed version: from now on apps granted its datasets run it by name.</summary>
public sealed record QueryTemplateApproved(string Name, int Version, string Reason, string Actor, DateTimeOffset At);

/// <summary>A reviewer rejected a proposed version; it never runs.</summary>
public sealed record QueryTemplateRejected(string Name, int Version, string Reason, string Actor, DateTimeOffset At);
