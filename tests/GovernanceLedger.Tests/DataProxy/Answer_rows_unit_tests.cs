using System.Text.Json;
using GovernanceLedger.DataProxy;
using GovernanceLedger.Infrastructure;
using Shouldly;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>A query's answer rows are written by hand for speed: the JSON must be what the serializer writes for the same rows as objects.</summary>
public sealed class Answer_rows_unit_tests
{
    [Fact]
    public void Rows_are_written_as_the_serializer_writes_them_as_objects_for_every_column_type_and_a_field_asked_for_twice()
    {
        string[] fields = ["id", "name", "amount", "big", "small", "ok", "when", "day", "uid", "ratio", "missing", "tags", "name"];
        object?[][] values =
        [
            [1, "Zoë \"quoted\" <b>&", 12.50m, 9_007_199_254_740_993L, (short)-3, true, new DateTime(2026, 11, 29, 8, 0, 0, DateTimeKind.Utc),
                new DateOnly(2026, 11, 29), Guid.Parse("0195f3a0-0000-7000-8000-000000000001"), 0.1, null, new[] { "a", "b" }, "Zoë \"quoted\" <b>&"],
            [2, "", -0.0001m, long.MinValue, (short)0, false, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)), null, null, 1e300, null, Array.Empty<string>(), ""]
        ];
        var rows = new AnswerRows(fields);
        foreach (var row in values) rows.Add(row);
        // What the answer held before: one dictionary per row (a repeated field keeps its first place, and one value).
        var dictionaries = values.Select(row =>
        {
            var d = new Dictionary<string, object?>();
            for (var i = 0; i < fields.Length; i++) d[fields[i]] = row[i];
            return d;
        }).ToList();

        JsonSerializer.Serialize(rows, LedgerSetup.ApiJson).ShouldBe(JsonSerializer.Serialize(dictionaries, LedgerSetup.ApiJson));
        rows.Count.ShouldBe(2);
    }
}
