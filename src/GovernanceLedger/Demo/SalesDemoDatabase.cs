using GovernanceLedger.DataProxy;
using Npgsql;

namespace GovernanceLedger.Demo;

/// <summary>
/// The demo source database: customers and sales_data in EMEA, NA and APAC under the product's
/// region row-level-security policy, exposed to the data proxy as curated views; and orders, the
/// source of the curated topic sales.events.v1.
/// </summary>
public static class SalesDemoDatabase
{
    /// <summary>Creates the database and its demo data if it does not exist yet. Returns true when it created it.</summary>
    public static async Task<bool> EnsureAsync(string connectionString, CancellationToken ct = default)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        await using (var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false }.ConnectionString))
        {
            await admin.OpenAsync(ct);
            await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = @n", admin);
            exists.Parameters.AddWithValue("n", target.Database!);
            if (await exists.ExecuteScalarAsync(ct) is not null)
            {
                // Databases created before orders existed get the table on their next start.
                await using var existing = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
                await existing.OpenAsync(ct);
                await using var orders = new NpgsqlCommand($"do $$ begin if to_regclass('public.orders') is null then {OrdersSql.Replace("$$", "")} end if; end $$;", existing);
                await orders.ExecuteNonQueryAsync(ct);
                await ApplyPoliciesAsync(existing, ct);
                return false;
            }
            await using var create = new NpgsqlCommand($"create database \"{target.Database!.Replace("\"", "\"\"")}\"", admin);
            await create.ExecuteNonQueryAsync(ct);
        }

        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(ct);
        await using var seed = new NpgsqlCommand(Sql, connection);
        await seed.ExecuteNonQueryAsync(ct);
        await ApplyPoliciesAsync(connection, ct);
        // Statistics now, not at autovacuum's next visit: without them the planner takes the region policy for a rare
        // match and scans and sorts every order for a 20-row page, instead of walking the key until the page is full.
        await using var analyze = new NpgsqlCommand("analyze customers, sales_data, interactions, orders", connection);
        await analyze.ExecuteNonQueryAsync(ct);
        return true;
    }

    /// <summary>The region policies read the proxy's unforgeable row context; older databases get them replaced.</summary>
    private static async Task ApplyPoliciesAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await RowContext.EnsureAsync(connection, ct);
        await using var policies = new NpgsqlCommand(PoliciesSql, connection);
        await policies.ExecuteNonQueryAsync(ct);
    }

    private const string Sql = """
        create table customers (
            customer_id int primary key, name text not null, email text not null, phone text not null,
            region text not null, segment text not null);
        create table sales_data (
            order_id int primary key, customer_id int not null references customers, region text not null,
            product text not null, amount numeric(12,2) not null, ordered_at timestamptz not null);
        create table interactions (
            interaction_id bigserial primary key, customer_id int not null references customers,
            channel text not null, note text not null, created_at timestamptz not null default now());

        insert into customers
        select i, 'Customer ' || i, 'customer' || i || '@example.com', '+44 20 7946 ' || lpad(i::text, 4, '0'),
               (array['EMEA','NA','APAC'])[1 + i % 3], (array['smb','mid','enterprise'])[1 + i % 3]
        from generate_series(1, 300) i;
        insert into sales_data
        select i, 1 + i % 300, (array['EMEA','NA','APAC'])[1 + ((1 + i % 300) % 3)], (array['widget','gadget','service'])[1 + i % 3],
               round((50 + (i * 37) % 5000)::numeric, 2), timestamptz '2026-01-01' + (i || ' hours')::interval
        from generate_series(1, 3000) i;

        create schema curated;
        """ + OrdersSql;

    /// <summary>
    /// The product's example policy: a session sees only the region the proxy set for it, read through
    /// governed.region() so that a login cannot choose its own region.
    /// </summary>
    private const string PoliciesSql = """
        -- Curated views belong to curated_reader: it may read the base tables, is not their owner and
        -- cannot bypass row-level security, so the policies below apply to every read through a view.
        -- App logins get columns of the views only, never the base tables.
        do $$ begin
          create role curated_reader nologin nobypassrls;
        exception when duplicate_object or unique_violation then null;  -- roles are server-wide: made once
        end $$;
        grant usage on schema curated to curated_reader;
        grant select on customers, sales_data to curated_reader;
        drop view if exists curated.customers;
        drop view if exists curated.sales_data;
        create view curated.customers as select customer_id, name, email, phone, region, segment from customers;
        create view curated.sales_data as select order_id, customer_id, region, product, amount, ordered_at from sales_data;
        alter view curated.customers owner to curated_reader;
        alter view curated.sales_data owner to curated_reader;
        alter table sales_data enable row level security;
        alter table sales_data force row level security;
        drop policy if exists sales_region_policy on sales_data;
        create policy sales_region_policy on sales_data using (region = (select governed.region()));
        alter table customers enable row level security;
        alter table customers force row level security;
        drop policy if exists customers_region_policy on customers;
        create policy customers_region_policy on customers using (region = (select governed.region()));
        """;

    /// <summary>Orders change all day: change data capture publishes them to the curated topic sales.events.v1.
    /// Full replica identity puts the whole old row in updates and deletes, for the events' "before".</summary>
    private const string OrdersSql = """
        create table orders (
            order_id bigint primary key, customer_email text not null, region text not null, product text not null,
            amount numeric(12,2) not null, status text not null default 'placed', updated_at timestamptz not null default now());
        alter table orders replica identity full;
        alter table customers replica identity full;
        insert into orders (order_id, customer_email, region, product, amount)
        select i, 'customer' || (1 + i % 300) || '@example.com', (array['EMEA','NA','APAC'])[1 + i % 3],
               (array['widget','gadget','service'])[1 + i % 3], round((20 + (i * 13) % 900)::numeric, 2)
        from generate_series(1, 100) i;
        """;
}
