using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Contracts.Warehouse;
using GovernanceLedger.Warehouse;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Warehouse;

/// <summary>Curated exports into the embedded warehouse, warehouse queries through the data proxy, and pre-approved templates.</summary>
[Collection(LedgerCollection.Name)]
public sealed class Warehouse_tests(LedgerFixture ledger)
{
    private const string Export = "customers-sanitized";

    /// <summary>Runs the export once per fixture (tests share the warehouse) and answers its event.</summary>
    private async Task<WarehouseExportRan> ExportedAsync()
    {
        var state = await ledger.StreamOf(GovernanceLedger.Projections.Warehouse.WarehouseExportState.StreamFor(Export));
        if (state.Select(e => e.Data).OfType<WarehouseExportRan>().LastOrDefault() is { } ran) return ran;
        var run = await ledger.Post($"/warehouse/exports/{Export}/runs", null, await ledger.PersonToken(Admin, "platform-admin"));
        if (run.Status == 409) return await ExportedAsync();
        run.Status.ShouldBe(201, run.Text);
        return (await ledger.StreamOf(GovernanceLedger.Projections.Warehouse.WarehouseExportState.StreamFor(Export)))
            .Select(e => e.Data).OfType<WarehouseExportRan>().Last();
    }

    private IWarehouse Warehouse => ledger.Host.Services.GetRequiredService<IWarehouse>();

    /// <summary>A template the owner proposes and a reviewer approves (with an integer parameter when named): its name.</summary>
    private async Task<string> ApprovedTemplateAsync(string prefix, string description, string sql, string? integerParameter = null)
    {
        var name = $"{prefix}-{Guid.NewGuid():N}"[..20];
        var proposed = await ledger.Post("/query-templates", new JsonObject
        {
            ["name"] = name, ["description"] = description, ["sql"] = sql,
            ["parameters"] = integerParameter is null ? new JsonArray() : new JsonArray(new JsonObject { ["name"] = integerParameter, ["type"] = "integer" })
        }.ToJsonString(), await ledger.PersonToken(Owner, "app-owner"));
        proposed.Status.ShouldBe(201, sql + " " + proposed.Text);
        (await ledger.Post($"/query-templates/{name}/versions/1/decision", """{"decision":"approve","reason":"reviewed for a dashboard"}""",
            await ledger.PersonToken(Reviewer, "security-reviewer"))).Status.ShouldBe(200);
        return name;
    }

    [Fact]
    public async Task An_export_yields_customers_sanitized_with_hashed_emails_and_no_email_anywhere_in_the_warehouse_file()
    {
        var ran = await ExportedAsync();
        ran.Rows.ShouldBe(300);
        ran.Bytes.ShouldBeGreaterThan(300 * 64);
        ran.DurationMs.ShouldBeGreaterThan(0);
        ran.Target.ShouldBe("customers_sanitized");
        ran.DefinitionSha256.ShouldBe(ledger.Host.Services.GetRequiredService<IOptionsMonitor<WarehouseOptions>>().CurrentValue.Export(Export)!.Sha256());
        ran.SourceTables.Order().ShouldBe(["customers", "sales_data"]);
        ran.Columns.Select(c => c.Name).ShouldBe(["customer_id", "email_hash", "country", "first_purchase_date"]);
        ran.Columns.Single(c => c.Name == "email_hash").ShouldSatisfyAllConditions(
            c => c.DerivedFrom.ShouldBe(["email"]), c => c.Transform.ShouldBe("sha256"), c => c.Keyed.ShouldBeTrue(), c => c.Bytes.ShouldBe(300 * 64));
        ran.Columns.Where(c => c.Name != "email_hash").ShouldAllBe(c => !c.Keyed);

        var answer = await Warehouse.QueryAsync("select customer_id, email_hash, country, first_purchase_date from customers_sanitized order by customer_id",
            [], 1000, TimeSpan.FromSeconds(10), CancellationToken.None);
        answer.Rows.Count.ShouldBe(300);
        answer.Rows.ShouldAllBe(r => System.Text.RegularExpressions.Regex.IsMatch((string)r[1]!, "^[0-9a-f]{64}$"));
        // The article's view computes SHA-256 of the lower-cased address, which anyone can compute for a list of likely
        // addresses: what is stored is that hash keyed with the ledger's salt, so the list finds nothing.
        var plain = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("customer7@example.com")));
        answer.Rows.ShouldAllBe(r => (string)r[1]! != plain);
        var masking = ledger.Host.Services.GetRequiredService<GovernanceLedger.Infrastructure.Masking>();
        answer.Rows[6][1].ShouldBe(Convert.ToHexStringLower(masking.Keyed(WarehouseExporter.KeyedPurpose, Encoding.UTF8.GetBytes(plain))));
        answer.Rows.Select(r => (string)r[1]!).Distinct().Count().ShouldBe(300);
        answer.Rows.Select(r => (string)r[2]!).Distinct().Order().ShouldBe(["APAC", "EMEA", "NA"]);

        // Not one address in the file or its write-ahead log, in any form.
        var path = Warehouse.Location;
        foreach (var file in new[] { path, path + ".wal" }.Where(File.Exists))
        {
            var text = Encoding.Latin1.GetString(await File.ReadAllBytesAsync(file));
            text.ShouldNotContain("@example.com");
            text.ShouldNotContain("customer7@");
        }
    }

    [Fact]
    public async Task An_export_that_would_let_PII_leave_is_refused_before_it_reads_anything_and_the_refusal_is_recorded()
    {
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var listed = await ledger.Get("/warehouse/exports", admin);
        listed.Status.ShouldBe(200, listed.Text);
        var leaky = listed.Node("exports")!.AsArray().Single(e => e!["name"]!.GetValue<string>() == "customers-leaky")!;
        leaky["pii_check"]!.GetValue<string>().ShouldBe("refused");

        var refused = await ledger.Post("/warehouse/exports/customers-leaky/runs", null, admin);
        refused.Status.ShouldBe(422, refused.Text);
        refused.Node("errors.0.field")!.GetValue<string>().ShouldBe("sql");
        refused.Node("errors.0.rule")!.GetValue<string>().ShouldBe("pii-unhashed");
        refused.Text.ShouldContain("email is PII");
        (await ledger.StreamOf(GovernanceLedger.Projections.Warehouse.WarehouseExportState.StreamFor("customers-leaky")))
            .Select(e => e.Data).OfType<WarehouseExportRefused>().ShouldNotBeEmpty();
        Warehouse.Stats("customers_leaky").ShouldBeNull();
        await Should.ThrowAsync<DuckDB.NET.Data.DuckDBException>(() =>
            Warehouse.QueryAsync("select count(*) from customers_leaky", [], 1, TimeSpan.FromSeconds(5), CancellationToken.None));

        // Only platform admins run exports; unknown exports are 404.
        (await ledger.Post($"/warehouse/exports/{Export}/runs", null, await ledger.PersonToken(Owner, "app-owner"))).Status.ShouldBe(403);
        (await ledger.Post("/warehouse/exports/nope/runs", null, admin)).Status.ShouldBe(404);
    }

    [Fact]
    public async Task A_warehouse_query_through_the_proxy_is_limited_recorded_and_priced()
    {
        var ran = await ExportedAsync();
        var appId = await ledger.AnalyticsApp("wh-query", new JsonObject { ["rows_per_day"] = 8, ["requests_per_second"] = 1000 });
        var token = await ledger.AppToken(appId, "EMEA", "read:analytics");

        var first = await ledger.Post("/data/customers_sanitized/query", new { fields = new[] { "customer_id", "email_hash" }, order_by = new[] { "customer_id" }, limit = 5 }, token);
        first.Status.ShouldBe(200, first.Text);
        first.Node("row_count")!.GetValue<int>().ShouldBe(5);
        first.Node("truncated")!.GetValue<bool>().ShouldBeTrue();
        // The first of the end user's region (EMEA), not of every region: the warehouse copy is row-scoped like its source.
        var firstInEmea = await Warehouse.QueryAsync("select min(customer_id) from customers_sanitized where country = 'EMEA'", [], 1, TimeSpan.FromSeconds(10), CancellationToken.None);
        first.Node("rows.0.customer_id")!.GetValue<int>().ShouldBe(Convert.ToInt32(firstInEmea.Rows[0][0]));

        // The filter runs in the warehouse with bound values; an injection attempt is just a value that matches nothing.
        var filtered = await ledger.Post("/data/customers_sanitized/query",
            new { fields = new[] { "customer_id" }, filter = new[] { new { field = "country", op = "eq", value = "EMEA' or '1'='1" } } }, token);
        filtered.Status.ShouldBe(200, filtered.Text);
        filtered.Node("row_count")!.GetValue<int>().ShouldBe(0);

        // The daily row budget (8 rows) holds across queries: 5 + 0 read, 3 left, then none.
        var second = await ledger.Post("/data/customers_sanitized/query", new { fields = new[] { "customer_id" }, limit = 5 }, token);
        second.Node("row_count")!.GetValue<int>().ShouldBe(3);
        var third = await ledger.Post("/data/customers_sanitized/query", new { fields = new[] { "customer_id" }, limit = 5 }, token);
        third.Status.ShouldBe(429, third.Text);

        // Fields the app was not granted, and the dataset without its scope, are refused.
        var other = await ledger.AnalyticsApp("wh-fields");
        var otherToken = await ledger.AppToken(other, "EMEA", "read:analytics");
        (await ledger.Post("/data/customers_sanitized/query", new { fields = new[] { "first_purchase_date" } }, otherToken)).Status.ShouldBe(403);

        // Every query is on the record with its cost tag: all 300 rows scanned, and the bytes of the columns it named and of
        // the column its rows are scoped by (country, read to keep the end user's region).
        var executed = (await ledger.AccessEvents(appId)).OfType<QueryExecuted>().Where(q => q.Dataset == "customers_sanitized").ToList();
        executed.Count.ShouldBe(3);
        var named = ran.Columns.Where(c => c.Name is "customer_id" or "email_hash" or "country").Sum(c => c.Bytes);
        executed[0].ShouldSatisfyAllConditions(q => q.ScannedRows.ShouldBe(300), q => q.ScannedBytes.ShouldBe(named),
            q => q.DatabaseRole.ShouldBe(WarehouseReads.Role), q => q.Rows.ShouldBe(5));
        executed[1].ScannedBytes.ShouldBe(ran.Columns.Where(c => c.Name is "customer_id" or "country").Sum(c => c.Bytes));
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().Count(a => a.Status == 429).ShouldBe(1);

        // Chargeback prices what was scanned with the rate card's per-megabyte price.
        var finance = await ledger.PersonToken("finance@example.com", "finance");
        var month = ledger.Clock.GetUtcNow().ToString("yyyy-MM");
        var report = await ledger.Get($"/chargeback?month={month}", finance);
        var line = report.Node("lines")!.AsArray().Single(l => l!["key"]!.GetValue<string>() == appId)!;
        var scannedMb = executed.Sum(q => q.ScannedBytes) / GovernanceLedger.Chargeback.ReadChargeback.BytesPerMegabyte;
        line["scanned_megabytes"]!.GetValue<decimal>().ShouldBe(scannedMb);
        var card = ledger.Host.Services.GetRequiredService<IOptions<GovernanceLedger.Chargeback.RateCardOptions>>().Value;
        line["amount"]!.GetValue<decimal>().ShouldBe(
            line["requests"]!.GetValue<long>() * card.PerRequest + line["rows"]!.GetValue<long>() * card.PerRow
            + line["megabytes"]!.GetValue<decimal>() * card.PerMegabyte + line["compute_seconds"]!.GetValue<decimal>() * card.PerComputeSecond
            + scannedMb * card.PerScannedMegabyte);
        card.PerScannedMegabyte.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task A_query_template_runs_only_once_approved_and_only_with_bound_typed_parameters()
    {
        await ExportedAsync();
        var name = $"customers-by-country-{Guid.NewGuid():N}"[..30];
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var proposal = new JsonObject
        {
            ["name"] = name,
            ["description"] = "Customers of one country from a customer id on, for the regional dashboard",
            ["sql"] = "select customer_id, country, first_purchase_date from customers_sanitized where country = $country and customer_id >= $from_id order by customer_id",
            ["parameters"] = new JsonArray(
                new JsonObject { ["name"] = "country", ["type"] = "string", ["max_length"] = 8, ["pattern"] = "[A-Z]{2,4}" },
                new JsonObject { ["name"] = "from_id", ["type"] = "integer", ["minimum"] = 1 })
        };
        var proposed = await ledger.Post("/query-templates", proposal.ToJsonString(), owner);
        proposed.Status.ShouldBe(201, proposed.Text);
        proposed.Node("version")!.GetValue<int>().ShouldBe(1);

        // Many requests in one second: a rate above the default, so the share each ledger instance gets stays above them.
        var appId = await ledger.AnalyticsApp("wh-template", new JsonObject { ["requests_per_second"] = 1000 }, "customer_id", "country", "first_purchase_date");
        var token = await ledger.AppToken(appId, "EMEA", "read:analytics");
        var body = new { parameters = new { country = "EMEA", from_id = 290 } };

        // Proposed is not approved: it cannot run, and it is not listed.
        var early = await ledger.Post($"/data/queries/{name}", body, token);
        early.Status.ShouldBe(404, early.Text);
        (await ledger.Get("/data/queries", token)).Node("templates")!.AsArray().ShouldNotContain(t => t!["name"]!.GetValue<string>() == name);

        // Its author cannot approve it; an agent cannot; a reviewer can.
        (await ledger.Post($"/query-templates/{name}/versions/1/decision", """{"decision":"approve","reason":"looks fine to me"}""",
            await ledger.PersonToken(Owner, "app-owner", "security-reviewer"))).Status.ShouldBe(403);
        var approved = await ledger.Post($"/query-templates/{name}/versions/1/decision", """{"decision":"approve","reason":"reads sanitized columns only"}""",
            await ledger.PersonToken(Reviewer, "security-reviewer"));
        approved.Status.ShouldBe(200, approved.Text);
        // A second decision on it is refused too; both refusals are on the template's stream with their rules.
        (await ledger.Post($"/query-templates/{name}/versions/1/decision", """{"decision":"reject","reason":"changed my mind"}""",
            await ledger.PersonToken(SecondReviewer, "security-reviewer"))).Status.ShouldBe(409);
        (await ledger.StreamOf(GovernanceLedger.Projections.Warehouse.QueryTemplate.StreamFor(name))).Select(e => e.Data)
            .OfType<GovernanceLedger.Contracts.Apps.GovernanceActionRefused>().Select(r => r.Rule).ShouldBe(["no-self-approval", "not-pending"]);

        var listed = await ledger.Get("/data/queries", token);
        var entry = listed.Node("templates")!.AsArray().Single(t => t!["name"]!.GetValue<string>() == name)!;
        entry["parameters"]!.AsArray().Select(p => p!["type"]!.GetValue<string>()).ShouldBe(["string", "integer"]);

        var run = await ledger.Post($"/data/queries/{name}", body, token);
        run.Status.ShouldBe(200, run.Text);
        run.Node("version")!.GetValue<int>().ShouldBe(1);
        var rows = run.Node("rows")!.AsArray();
        rows.Count.ShouldBe(Enumerable.Range(290, 11).Count(i => new[] { "EMEA", "NA", "APAC" }[i % 3] == "EMEA"));
        rows.ShouldAllBe(r => r!["country"]!.GetValue<string>() == "EMEA" && r["customer_id"]!.GetValue<int>() >= 290);

        // Injection attempts through parameters are refused by type, pattern or length, naming the parameter and the rule.
        foreach (var (attempt, field, rule) in new (object Parameters, string Field, string Rule)[]
        {
            (new { country = "EMEA' OR '1'='1", from_id = 1 }, "parameters.country", "maxLength"),
            (new { country = "EM'--", from_id = 1 }, "parameters.country", "pattern"),
            (new { country = "EMEA", from_id = "1 OR 1=1" }, "parameters.from_id", "type"),
            (new { country = "EMEA", from_id = 0 }, "parameters.from_id", "range"),
            (new { country = "EMEA" }, "parameters.from_id", "required"),
        })
        {
            var refused = await ledger.Post($"/data/queries/{name}", new { parameters = attempt }, token);
            refused.Status.ShouldBe(400, refused.Text);
            refused.Node("errors")!.AsArray().ShouldContain(e => e!["field"]!.GetValue<string>() == field && e["rule"]!.GetValue<string>() == rule, refused.Text);
        }
        var extra = await ledger.Post($"/data/queries/{name}", """{"parameters":{"country":"EMEA","from_id":1,"sql":"drop table customers_sanitized"}}""", token);
        extra.Status.ShouldBe(400, extra.Text);
        var ownSql = await ledger.Post($"/data/queries/{name}", """{"sql":"select * from customers_sanitized"}""", token);
        ownSql.Status.ShouldBe(400, ownSql.Text);

        // The warehouse is intact; every run and refusal is on the record, with the template and its cost tag.
        Warehouse.Stats("customers_sanitized")!.Rows.ShouldBe(300);
        var events = await ledger.AccessEvents(appId);
        var executed = events.OfType<QueryExecuted>().Single();
        executed.Template.ShouldBe($"{name}@1");
        executed.ScannedRows.ShouldBe(300);
        executed.Filter.ShouldContain(f => f.Field == "country" && f.Value == "EMEA");
        events.OfType<AccessRecorded>().Count(a => a.Status == 400).ShouldBe(7);
        events.OfType<AccessRecorded>().Count(a => a.Status == 404).ShouldBe(1);

        // Columns read without being named (an alias list, a position, a whole row) count as read: the planner says so.
        var aliased = $"aliased-{Guid.NewGuid():N}"[..20];
        var hidden = await ledger.Post("/query-templates", new JsonObject
        {
            ["name"] = aliased, ["description"] = "customer ids and countries, columns renamed",
            ["sql"] = "select a, c, to_json(t) as whole from customers_sanitized as t(a, b, c) order by a limit 3"
        }.ToJsonString(), owner);
        hidden.Status.ShouldBe(201, hidden.Text);
        hidden.Node("columns.customers_sanitized")!.AsArray().Select(c => c!.GetValue<string>()).Order()
            .ShouldBe(["country", "customer_id", "email_hash", "first_purchase_date"]);
        hidden.Node("output")!.AsArray().Select(c => c!.GetValue<string>()).ShouldBe(["a", "c", "whole"]);

        // An app not granted a column the template reads cannot run it, and does not see it listed.
        var narrow = await ledger.AnalyticsApp("wh-narrow", null, "customer_id", "country");
        var narrowToken = await ledger.AppToken(narrow, "EMEA", "read:analytics");
        (await ledger.Post($"/data/queries/{name}", body, narrowToken)).Status.ShouldBe(403);
        (await ledger.Get("/data/queries", narrowToken)).Node("templates")!.AsArray().ShouldNotContain(t => t!["name"]!.GetValue<string>() == name);
    }

    [Fact]
    public async Task A_template_whose_parameter_swells_its_answer_is_stopped_at_the_answer_bound_and_the_refusal_recorded()
    {
        await ExportedAsync();
        var name = await ApprovedTemplateAsync("swell", "Each country's name repeated, to see how long a label can get",
            "select customer_id, repeat(country, $n) as label from customers_sanitized order by customer_id", "n");
        var appId = await ledger.AnalyticsApp("wh-swell", null, "customer_id", "country");
        var token = await ledger.AppToken(appId, "EMEA", "read:analytics");

        (await ledger.Post($"/data/queries/{name}", new { parameters = new { n = 3 }, limit = 5 }, token)).Status.ShouldBe(200);
        // Five rows of two million characters each: 20 MB, over the 8 MiB bound, refused whole rather than answered.
        var swollen = await ledger.Post($"/data/queries/{name}", new { parameters = new { n = 2_000_000 }, limit = 5 }, token);
        swollen.Status.ShouldBe(422, swollen.Text[..Math.Min(300, swollen.Text.Length)]);
        swollen.Text.Length.ShouldBeLessThan(2_000);
        swollen.Node("errors.0.rule")!.GetValue<string>().ShouldBe("answer-too-large");
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().ShouldContain(a => a.Status == 422 && a.Reason.StartsWith("answer-too-large"));

        // A list or a struct is counted by what it holds, however it is nested (five rows: all three hundred would need more
        // memory than the warehouse has, a refusal of its own).
        foreach (var (sql, values) in new (string, object)[]
        {
            ("select customer_id, range($n) as label from (select * from customers_sanitized order by customer_id limit 5)", new { n = 1_500_000 }),
            ("select customer_id, {'c': [repeat(country, $n)]} as label from (select * from customers_sanitized order by customer_id limit 5)", new { n = 2_000_000 })
        })
        {
            var nested = await ApprovedTemplateAsync("nest", "Labels built as lists and structs, to see how long they can get", sql, "n");
            var answer = await ledger.Post($"/data/queries/{nested}", new { parameters = values, limit = 5 }, token);
            answer.Status.ShouldBe(422, sql);
            answer.Node("errors.0.rule")!.GetValue<string>().ShouldBe("answer-too-large");
        }
    }

    [Fact]
    public async Task A_costly_template_is_planned_without_being_run_and_its_run_is_interrupted_at_the_timeout_and_recorded()
    {
        await ExportedAsync();
        var name = $"cross-{Guid.NewGuid():N}"[..20];
        var owner = await ledger.PersonToken(Owner, "app-owner");
        // Five copies of the customers joined: billions of combinations even in one region, hours on one thread. Proposing it
        // plans it; the plan's column names come from a limit of 0 that the warehouse answers without running what is beneath it.
        var proposed = await ledger.Post("/query-templates", new JsonObject
        {
            ["name"] = name, ["description"] = "How many quintuples of customers add up past a bound",
            ["sql"] = "select count(*) filter (where a.customer_id + b.customer_id + c.customer_id + d.customer_id + e.customer_id > $n) as quintuples "
                + "from customers_sanitized a, customers_sanitized b, customers_sanitized c, customers_sanitized d, customers_sanitized e",
            ["parameters"] = new JsonArray(new JsonObject { ["name"] = "n", ["type"] = "integer" })
        }.ToJsonString(), owner);
        proposed.Status.ShouldBe(201, proposed.Text);
        proposed.Node("output")!.AsArray().Select(c => c!.GetValue<string>()).ShouldBe(["quintuples"]);
        // Nor are its constants computed: an edit distance between two strings of 200,000 characters is hours of one core.
        var folded = await ledger.Post("/query-templates", new JsonObject
        {
            ["name"] = $"fold-{Guid.NewGuid():N}"[..20], ["description"] = "How far apart two long labels are",
            ["sql"] = "select country, levenshtein(repeat('a', 200000), repeat('b', 200000)) as distance from customers_sanitized"
        }.ToJsonString(), owner);
        folded.Status.ShouldBe(201, folded.Text);
        folded.Node("output")!.AsArray().Select(c => c!.GetValue<string>()).ShouldBe(["country", "distance"]);
        (await ledger.Post($"/query-templates/{name}/versions/1/decision", """{"decision":"approve","reason":"a bound for a dashboard"}""",
            await ledger.PersonToken(Reviewer, "security-reviewer"))).Status.ShouldBe(200);
        var appId = await ledger.AnalyticsApp("wh-cross", null, "customer_id", "country");
        var token = await ledger.AppToken(appId, "EMEA", "read:analytics");

        // Run, it is interrupted at the warehouse's timeout (5 s in the fixture), answered 504 and recorded.
        var run = await ledger.Post($"/data/queries/{name}", new { parameters = new { n = 0 }, limit = 1 }, token);
        run.Status.ShouldBe(504, run.Text);
        run.Node("errors.0.rule")!.GetValue<string>().ShouldBe("statement-timeout");
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().ShouldContain(a => a.Status == 504 && a.Reason.StartsWith("statement-timeout"));
        // The warehouse is free again: a small query answers.
        (await Warehouse.QueryAsync("select count(*) from customers_sanitized", [], 1, TimeSpan.FromSeconds(10), CancellationToken.None)).Rows[0][0].ShouldBe(300L);
    }

    [Fact]
    public async Task A_template_whose_values_need_more_memory_than_the_warehouse_has_is_refused_and_recorded_and_the_host_goes_on()
    {
        await ExportedAsync();
        // The fixture's warehouse has 256 MB and may spill 256 MB more, on one thread.
        (await Warehouse.QueryAsync("select current_setting('memory_limit') as memory, current_setting('threads') as threads", [], 1,
            TimeSpan.FromSeconds(10), CancellationToken.None)).Rows[0].ShouldBe(["244.1 MiB", 1L]);
        var name = await ApprovedTemplateAsync("agg", "Every country name joined into one label, each repeated",
            "select string_agg(repeat(country, $n), ',') as label from customers_sanitized", "n");
        var appId = await ledger.AnalyticsApp("wh-memory", null, "customer_id", "country");
        var token = await ledger.AppToken(appId, "EMEA", "read:analytics");

        (await ledger.Post($"/data/queries/{name}", new { parameters = new { n = 2 }, limit = 1 }, token)).Status.ShouldBe(200);
        // A region's hundred or so strings of eight million characters, aggregated before anything is read: most of a gigabyte.
        var hungry = await ledger.Post($"/data/queries/{name}", new { parameters = new { n = 4_000_000 }, limit = 1 }, token);
        hungry.Status.ShouldBe(422, hungry.Text[..Math.Min(300, hungry.Text.Length)]);
        hungry.Node("errors.0.rule")!.GetValue<string>().ShouldBe("memory-limit");
        hungry.Text.ShouldContain("Warehouse:MemoryLimitMegabytes");
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().ShouldContain(a => a.Status == 422 && a.Reason.StartsWith("memory-limit"));
        (await ledger.Post($"/data/queries/{name}", new { parameters = new { n = 2 }, limit = 1 }, token)).Status.ShouldBe(200);
    }

    [Fact]
    public async Task A_template_that_reads_outside_the_curated_datasets_or_takes_unchecked_input_is_refused_at_proposal()
    {
        await ExportedAsync();
        var owner = await ledger.PersonToken(Owner, "app-owner");
        var proposed = new List<string>();
        async Task<ApiResponse> Propose(string sql, JsonArray? parameters = null)
        {
            proposed.Add($"t-{Guid.NewGuid():N}"[..20]);
            return await ledger.Post("/query-templates", new JsonObject
            {
                ["name"] = proposed[^1], ["description"] = "an attempt at reading what templates may not read",
                ["sql"] = sql, ["parameters"] = parameters ?? []
            }.ToJsonString(), owner);
        }

        foreach (var (sql, rule) in new[]
        {
            ("delete from customers_sanitized", "select-only"),
            ("select 1; drop table customers_sanitized", "select-only"),
            ("select * from read_csv('/etc/passwd')", "curated-tables"),
            ("select * from query('select 1')", "curated-tables"),
            ("select * from ledger_table_stats", "curated-tables"),
            ("select * from customers", "binds"),
            // What it reads is what the planner binds: a CTE named like a curated table, in any scope, hides nothing.
            ("select b.* from (with customers_sanitized as (select 1 as x) select x from customers_sanitized) a, ledger_table_stats b", "curated-tables"),
            ("with ledger_table_stats as (select 1 as x) select * from main.ledger_table_stats", "curated-tables"),
            ("select * from (show databases)", "curated-tables"),
            ("show all tables", "curated-tables"),
            ("select * from pg_catalog.pg_settings", "curated-tables"),
            ("select * from information_schema.tables", "curated-tables"),
            ("select 1 as one", "curated-tables"),
            ("select getenv('HOME') from customers_sanitized", "allowed-functions"),
            ("select current_setting('threads') from customers_sanitized", "allowed-functions"),
            ("select customer_id from customers_sanitized where country = $1", "named-parameters"),
            ("select customer_id from customers_sanitized where country = $country", "declared"),
        })
        {
            var refused = await Propose(sql);
            refused.Status.ShouldBe(400, sql + " " + refused.Text);
            refused.Node("errors")!.AsArray().ShouldContain(e => e!["rule"]!.GetValue<string>() == rule, sql + " " + refused.Text);
            // The attempt is on the template's stream, with its rules, and its proposer.
            (await ledger.StreamOf(GovernanceLedger.Projections.Warehouse.QueryTemplate.StreamFor(proposed[^1]))).Select(e => e.Data)
                .OfType<GovernanceLedger.Contracts.Apps.GovernanceActionRefused>()
                .ShouldContain(r => r.Action == "propose-query-template" && r.Reason.Contains(rule) && r.Actor.Contains(Owner), sql);
        }
        var unbounded = await Propose("select customer_id from customers_sanitized where country = $country",
            new JsonArray(new JsonObject { ["name"] = "country", ["type"] = "string" }));
        unbounded.Status.ShouldBe(400);
        unbounded.Node("errors.0.field")!.GetValue<string>().ShouldBe("parameters[0].max_length");
        // A pattern with inline options could comment out the anchor the value is matched with; a null parameter is no parameter.
        var freeSpacing = await Propose("select customer_id from customers_sanitized where country = $country",
            new JsonArray(new JsonObject { ["name"] = "country", ["type"] = "string", ["max_length"] = 8, ["pattern"] = "(?x)[A-Z]+ # code" }));
        freeSpacing.Status.ShouldBe(400, freeSpacing.Text);
        freeSpacing.Node("errors.0.field")!.GetValue<string>().ShouldBe("parameters[0].pattern");
        var nullParameter = await Propose("select customer_id from customers_sanitized", new JsonArray((JsonNode?)null));
        nullParameter.Status.ShouldBe(400, nullParameter.Text);
        // Finance cannot propose (no registrant role); nobody unauthenticated can.
        (await ledger.Post("/query-templates", "{}", await ledger.PersonToken("finance@example.com", "finance"))).Status.ShouldBe(403);
        (await ledger.Post("/query-templates", "{}", null)).Status.ShouldBe(401);
    }

    [Fact]
    public async Task An_export_cannot_read_a_table_the_catalog_does_not_describe_nor_trust_a_hash_another_schema_defines()
    {
        var exporter = ledger.Host.Services.GetRequiredService<WarehouseExporter>();
        ExportDefinition Definition(string sql) => new() { Name = "probe", Source = "SalesDb", Dataset = "customers", Target = "probe", Sql = sql };
        exporter.Check(Definition("select customer_id from secrets")).Findings.ShouldContain(f => f.Contains("not a table the catalog describes"));
        exporter.Check(Definition("select customer_id, x from shadow.customers")).Findings.ShouldContain(f => f.Contains("not a table the catalog describes"));
        exporter.Check(Definition("select customer_id, myschema.sha256(email) as h from customers")).Findings.ShouldContain(f => f.Contains("email is PII"));
        exporter.Check(Definition("select customer_id, sha256(email) as h from customers")).Findings.ShouldBeEmpty();

        // A sha256(text) in public would be chosen over the built-in sha256(bytea) for a text argument, and could return its input.
        await using var sales = new Npgsql.NpgsqlConnection(ledger.SalesConnectionString);
        await sales.OpenAsync();
        await using (var create = new Npgsql.NpgsqlCommand("create or replace function public.sha256(text) returns text language sql as 'select $1'", sales))
            await create.ExecuteNonQueryAsync();
        try
        {
            var outcome = await exporter.RunAsync(Definition("select customer_id, sha256(email) as h from customers"), "on-demand", "person:test", CancellationToken.None);
            outcome.Problem!.Status.ShouldBe(422);
            outcome.Event.ShouldBeOfType<WarehouseExportRefused>().Findings.ShouldContain(f => f.Contains("outside pg_catalog"));
            Warehouse.Stats("probe").ShouldBeNull();
        }
        finally
        {
            await using var drop = new Npgsql.NpgsqlCommand("drop function public.sha256(text)", sales);
            await drop.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task Row_level_security_follows_the_customers_into_the_warehouse_for_dataset_queries_and_templates()
    {
        await ExportedAsync();
        var appId = await ledger.AnalyticsApp("wh-rls", null, "customer_id", "country");
        var emea = await ledger.AppToken(appId, "EMEA", "read:analytics");
        // A dataset query asking for other regions gets none of them.
        var asked = await ledger.Post("/data/customers_sanitized/query", new JsonObject
        {
            ["fields"] = new JsonArray("customer_id", "country"), ["filter"] = new JsonArray(new JsonObject { ["field"] = "country", ["op"] = "ne", ["value"] = "EMEA" }),
            ["limit"] = 10
        }.ToJsonString(), emea);
        asked.Status.ShouldBe(200, asked.Text);
        asked.Node("rows")!.AsArray().Count.ShouldBe(0);

        // A template reads the end user's region alone, its own CTEs and subqueries included; with no region, no row.
        Task<string> Approved(string sql) => ApprovedTemplateAsync("rls", "Customers per country, for a dashboard", sql);
        var perCountry = await Approved("with c as (select country from customers_sanitized) select country, count(*) as customers from c group by country order by country");
        var run = await ledger.Post($"/data/queries/{perCountry}", new { limit = 10 }, emea);
        run.Status.ShouldBe(200, run.Text);
        run.Node("rows")!.AsArray().Select(r => r!["country"]!.GetValue<string>()).ShouldBe(["EMEA"]);
        var everywhere = await Warehouse.QueryAsync("select count(*) from customers_sanitized where country = 'EMEA'", [], 1, TimeSpan.FromSeconds(10), CancellationToken.None);
        run.Node("rows.0.customers")!.GetValue<long>().ShouldBe((long)everywhere.Rows[0][0]!);
        var noRegion = await ledger.AppToken(appId, null, "read:analytics");
        (await ledger.Post($"/data/queries/{perCountry}", new { limit = 10 }, noRegion)).Node("rows")!.AsArray().Count.ShouldBe(0);

        // Naming the table with its schema would read past the region: refused, and recorded.
        var qualified = await Approved("select country, count(*) as customers from main.customers_sanitized group by country order by country");
        var refused = await ledger.Post($"/data/queries/{qualified}", new { limit = 10 }, emea);
        refused.Status.ShouldBe(403, refused.Text);
        refused.Node("errors.0.rule")!.GetValue<string>().ShouldBe("row-scope");
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().ShouldContain(a => a.Status == 403 && a.Reason.StartsWith("row-scope"));
    }

    [Fact]
    public void A_warehouse_dataset_exported_from_a_row_scoped_one_says_what_scopes_its_rows_or_why_nothing_does()
    {
        var export = new WarehouseOptions { Exports = [new ExportDefinition { Name = "x", Source = "SalesDb", Dataset = "customers", Target = "customers_copy" }] };
        GovernanceLedger.Policies.DatasetEntry Copy(string? key, string? exemption) => new()
        {
            Name = "customers_copy", Source = WarehouseOptions.SourceName, View = "main.customers_copy", RlsKey = key, RowScopeExemption = exemption
        };
        GovernanceLedger.Policies.DataCatalog Catalog(GovernanceLedger.Policies.DatasetEntry copy) =>
            new() { DatasetList = [new() { Name = "customers", RlsKey = "region" }, copy] };
        WarehouseSetup.RowScopeGaps(Catalog(Copy(null, null)), export).ShouldHaveSingleItem().ShouldContain("'customers_copy' is exported from 'customers'");
        WarehouseSetup.RowScopeGaps(Catalog(Copy("country", null)), export).ShouldBeEmpty();
        WarehouseSetup.RowScopeGaps(Catalog(Copy(null, "only aggregates of every region, for the board")), export).ShouldBeEmpty();
    }
}
