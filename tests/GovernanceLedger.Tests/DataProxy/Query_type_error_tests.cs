using System.Text.Json;
using GovernanceLedger.DataProxy;

namespace GovernanceLedger.Tests.DataProxy;

/// <summary>Which filter clause a source's type error is about, so the 400 names it.</summary>
public sealed class Query_type_error_tests
{
    private const string View = "curated.sales_data";

    private static Clause Term(string field, string op, object value) => new(field, op, [JsonSerializer.SerializeToElement(value)]);

    private static readonly DatasetQuery Query = new(["order_id", "region"],
        [Term("region", "eq", "EMEA"), Term("ordered_at", "gt", 5), Term("amount", "lt", 100), Term("product", "prefix", "Wid")],
        [("ordered_at", true)], 20);

    [Fact]
    public void The_clause_at_the_position_PostgreSQL_reports_is_named()
    {
        var sql = Query.ToSql(View).Sql;
        // PostgreSQL counts positions from 1.
        Query.ClausesAt(View, sql.IndexOf("\"ordered_at\"::numeric", StringComparison.Ordinal) + 1).ShouldBe([1]);
        Query.ClausesAt(View, sql.IndexOf("\"amount\"::numeric", StringComparison.Ordinal) + 3).ShouldBe([2]);
        Query.ClausesAt(View, sql.IndexOf("starts_with", StringComparison.Ordinal) + 1).ShouldBe([3]);
    }

    [Fact]
    public void Without_a_position_inside_a_clause_every_clause_compared_as_a_number_is_named()
    {
        var sql = Query.ToSql(View).Sql;
        Query.ClausesAt(View, 0).ShouldBe([1, 2]);
        // In the select list, or in the order by after the clauses: no clause holds it.
        Query.ClausesAt(View, sql.IndexOf("\"region\"", StringComparison.Ordinal) + 1).ShouldBe([1, 2]);
        Query.ClausesAt(View, sql.LastIndexOf("\"ordered_at\"", StringComparison.Ordinal) + 1).ShouldBe([1, 2]);
    }

    [Fact]
    public void Given_the_views_numeric_columns_only_numbers_compared_with_other_columns_are_named() =>
        Query.NumbersAgainstOtherTypes(new HashSet<string> { "order_id", "amount" }).ShouldBe([1]);
}
