using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Bogus;
using GovernanceLedger.Policies;

namespace GovernanceLedger.DataProxy;

/// <summary>
/// The sandbox's rows: synthetic, generated with Bogus from each curated dataset's columns and PII tags, the same rows
/// on every instance (seeded by the dataset's name). They live in memory only: the sandbox path never opens a
/// connection to a data source, so a sandbox token cannot read a real row by any query. Filters, ordering, limits
/// and row-level security by region apply as on real data.
/// </summary>
public sealed class SandboxData
{
    public const int RowsPerDataset = 300;
    private static readonly string[] Regions = ["EMEA", "NA", "APAC"];
    private readonly ConcurrentDictionary<string, IReadOnlyList<Dictionary<string, object?>>> _rows = new(StringComparer.Ordinal);

    public IReadOnlyList<Dictionary<string, object?>> RowsOf(DatasetEntry dataset) => _rows.GetOrAdd(dataset.Name, _ => Generate(dataset));

    /// <summary>The rows the query selects, in its order, at most its limit plus one (the extra one says "truncated").</summary>
    public IReadOnlyList<Dictionary<string, object?>> Query(DatasetEntry dataset, DatasetQuery query, string? region)
    {
        IEnumerable<Dictionary<string, object?>> rows = RowsOf(dataset);
        // Row-level security as the source applies it: only the end user's region; without one, nothing.
        if (dataset.RlsKey is { } key) rows = rows.Where(r => region is { Length: > 0 } && Equals(r[key], region));
        foreach (var clause in query.Filter) rows = rows.Where(r => Matches(r.GetValueOrDefault(clause.Field), clause));
        IOrderedEnumerable<Dictionary<string, object?>>? ordered = null;
        foreach (var (field, descending) in query.OrderBy)
            ordered = ordered is null
                ? descending ? rows.OrderByDescending(r => r[field], Comparer) : rows.OrderBy(r => r[field], Comparer)
                : descending ? ordered.ThenByDescending(r => r[field], Comparer) : ordered.ThenBy(r => r[field], Comparer);
        return (ordered ?? rows).Take(query.Limit + 1).Select(r => query.Fields.ToDictionary(f => f, f => r.GetValueOrDefault(f))).ToList();
    }

    private static Dictionary<string, object?>[] Generate(DatasetEntry dataset)
    {
        var faker = new Faker { Random = new Randomizer(StableSeed(dataset.Name)) };
        return Enumerable.Range(1, RowsPerDataset).Select(i =>
        {
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var field in dataset.Fields) row[field] = Value(faker, field, i, dataset.RlsKey == field);
            return row;
        }).ToArray();
    }

    /// <summary>A plausible value for a column, from its name: ids count up, PII-looking names get fake PII, regions rotate.</summary>
    private static object? Value(Faker f, string field, int i, bool rlsKey)
    {
        var name = field.ToLowerInvariant();
        if (rlsKey || name is "region" or "country_region") return Regions[i % Regions.Length];
        if (name.EndsWith("_id", StringComparison.Ordinal) || name == "id") return (long)(90_000 + i);
        if (name.Contains("email", StringComparison.Ordinal)) return name.Contains("hash", StringComparison.Ordinal) ? f.Random.Hash(16) : f.Internet.Email(provider: "sandbox.invalid");
        if (name.Contains("phone", StringComparison.Ordinal)) return f.Phone.PhoneNumber("+00 #### ######");
        if (name is "name" or "full_name" or "customer_name") return f.Name.FullName();
        if (name.Contains("company", StringComparison.Ordinal)) return f.Company.CompanyName();
        if (name.Contains("country", StringComparison.Ordinal)) return f.Address.CountryCode();
        if (name is "amount" or "price" or "total") return Math.Round(f.Random.Decimal(5, 5000), 2);
        if (name.EndsWith("_at", StringComparison.Ordinal) || name.Contains("date", StringComparison.Ordinal))
            return new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(f.Random.Int(0, 500_000));
        if (name is "segment") return f.PickRandom("smb", "mid", "enterprise");
        if (name is "status") return f.PickRandom("placed", "shipped", "returned");
        if (name is "channel") return f.PickRandom("web", "phone", "store");
        if (name is "product") return f.Commerce.ProductName();
        return f.Lorem.Word();
    }

    private static int StableSeed(string text)
    {
        var hash = 17;
        foreach (var c in text) hash = unchecked(hash * 31 + c);
        return hash;
    }

    private static readonly Comparer<object?> Comparer = Comparer<object?>.Create(Compare);

    private static int Compare(object? a, object? b) => (a, b) switch
    {
        (null, null) => 0,
        (null, _) => 1,
        (_, null) => -1,
        (long x, long y) => x.CompareTo(y),
        (decimal x, decimal y) => x.CompareTo(y),
        (DateTimeOffset x, DateTimeOffset y) => x.CompareTo(y),
        _ => string.CompareOrdinal(Convert.ToString(a, CultureInfo.InvariantCulture), Convert.ToString(b, CultureInfo.InvariantCulture))
    };

    private static bool Matches(object? cell, Clause clause)
    {
        int Against(JsonElement value) => cell switch
        {
            long or decimal when Number(value) is { } n => Convert.ToDecimal(cell, CultureInfo.InvariantCulture).CompareTo(n),
            DateTimeOffset at when value.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture, out var other)
                => at.CompareTo(other),
            _ => string.CompareOrdinal(Convert.ToString(cell, CultureInfo.InvariantCulture), Text(value))
        };
        return clause.Op switch
        {
            "is_null" => cell is null,
            "not_null" => cell is not null,
            _ when cell is null => false,
            "eq" => Against(clause.Values[0]) == 0,
            "ne" => Against(clause.Values[0]) != 0,
            "lt" => Against(clause.Values[0]) < 0,
            "lte" => Against(clause.Values[0]) <= 0,
            "gt" => Against(clause.Values[0]) > 0,
            "gte" => Against(clause.Values[0]) >= 0,
            "in" => clause.Values.Any(v => string.Equals(Convert.ToString(cell, CultureInfo.InvariantCulture), Text(v), StringComparison.Ordinal)),
            "prefix" => Convert.ToString(cell, CultureInfo.InvariantCulture)!.StartsWith(Text(clause.Values[0]), StringComparison.Ordinal),
            _ => false
        };
    }

    private static decimal? Number(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number when value.TryGetDecimal(out var d) => d,
        JsonValueKind.String when decimal.TryParse(value.GetString(), NumberStyles.Number, CultureInfo.InvariantCulture, out var d) => d,
        _ => null
    };

    private static string Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => value.GetRawText()
    };
}
