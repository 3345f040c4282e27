using GovernanceLedger.Warehouse;

namespace GovernanceLedger.Tests.Warehouse;

/// <summary>The PII check an export passes before it reads anything, attacked the ways a definition could hide a PII column.</summary>
public sealed class Sanitizing_check_tests
{
    private static readonly IReadOnlySet<string> Pii = new HashSet<string> { "email", "phone", "customer_email" };

    private static IReadOnlyList<string> Findings(string sql)
    {
        var (shape, error) = SqlShape.Parse(sql);
        return SanitizingCheck.Findings(shape, error, Pii);
    }

    [Fact]
    public void The_articles_view_passes_and_its_columns_say_where_they_come_from()
    {
        const string sql = """
            select c.customer_id, encode(sha256(convert_to(lower(c.email), 'UTF8')), 'hex') as email_hash, c.region as country,
                   (select min(s.ordered_at) from sales_data s where s.customer_id = c.customer_id)::date as first_purchase_date
            from customers c
            """;
        Findings(sql).ShouldBeEmpty();
        var (shape, _) = SqlShape.Parse(sql);
        shape!.Output.Select(o => o.Name).ShouldBe(["customer_id", "email_hash", "country", "first_purchase_date"]);
        shape.Output[1].DerivedFrom.ShouldBe(["email"]);
        shape.Output[1].Transform.ShouldBe("sha256");
        shape.Output[2].DerivedFrom.ShouldBe(["region"]);
        shape.Output[2].Transform.ShouldBeNull();
        shape.Tables.Except(shape.CteNames).Order().ShouldBe(["customers", "sales_data"]);
    }

    [Theory]
    [InlineData("select customer_id, email from customers")]
    [InlineData("select lower(email) as contact from customers")]
    [InlineData("select \"EMAIL\" from customers")]
    [InlineData("select c.email as e from customers as c")]
    [InlineData("select e from (select email as e from customers) x")]
    [InlineData("with x as (select email as e from customers) select sha256(e) from x")]
    [InlineData("select customer_id from customers where email like 'a%'")]
    [InlineData("select case when email like 'a%' then 1 else 0 end as bit from customers")]
    [InlineData("select customer_id from customers order by email")]
    [InlineData("select sha256(email) || phone as mixed from customers")]
    [InlineData("select md5(email) from customers")]
    [InlineData("select /* sha256( */ email /* ) */ from customers")]
    [InlineData("select customer_email from orders")]
    [InlineData("select customer_id from customers union all select length(email) from customers")]
    [InlineData("select * from customers")]
    [InlineData("select c.* from customers c")]
    [InlineData("select to_json(c) from customers c")]
    [InlineData("select customers from customers")]
    [InlineData("select * from read_csv('/etc/passwd')")]
    [InlineData("delete from customers")]
    [InlineData("select 1; select email from customers")]
    [InlineData("select email from customers where customer_id = $1")]
    [InlineData("this is not sql")]
    [InlineData("select c.customer_id, c.e as contact from customers as c(customer_id, n, e, p)")]
    [InlineData("select (select string_agg(e, ',') from customers as d(i, n, e)) as all_emails")]
    [InlineData("with x(i, e) as (select customer_id, email from customers) select i from x")]
    [InlineData("select encode(sha256(convert_to(set_config('x.v', c.email, false), 'UTF8')), 'hex') as h, current_setting('x.v') as leaked from customers c")]
    [InlineData("select query_to_xml('select email, phone from customers', true, false, '') as x")]
    [InlineData("select table_to_xml('customers', true, false, '')::text as x")]
    [InlineData("select #3 from customers")]
    [InlineData("select myschema.sha256(email) as h from customers")]
    [InlineData("select row(email) as r from customers")]
    [InlineData("select pg_read_file('/etc/passwd') as f")]
    public void A_definition_that_lets_PII_or_unchecked_columns_leave_is_refused(string sql) =>
        Findings(sql).ShouldNotBeEmpty(sql);

    [Theory]
    [InlineData("select customer_id, sha256(email) as h from customers")]
    [InlineData("select customer_id from customers where sha256(email) is not null")]
    [InlineData("select region, count(*) as customers from customers group by region")]
    [InlineData("select encode(sha512(convert_to(email, 'UTF8')), 'hex') as h from customers")]
    public void Hashed_PII_and_columns_that_are_not_PII_pass(string sql) => Findings(sql).ShouldBeEmpty(sql);
}
