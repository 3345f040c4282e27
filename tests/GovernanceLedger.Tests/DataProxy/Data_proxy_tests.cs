using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.Access;
using Npgsql;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.DataProxy;

[Collection(LedgerCollection.Name)]
public sealed class Data_proxy_tests(LedgerFixture ledger)
{
    private Task<ApiResponse> Query(string dataset, object body, string token) =>
        ledger.Post($"/data/{dataset}/query", body as string ?? System.Text.Json.JsonSerializer.Serialize(body), token);

    private static List<JsonObject> Rows(ApiResponse response) => response.Node("rows")!.AsArray().Select(r => r!.AsObject()).ToList();

    [Fact]
    public async Task An_EMEA_user_asking_for_NA_rows_gets_none_and_unfiltered_gets_only_EMEA()
    {
        var appId = await ledger.DataApp("rls");
        var token = await ledger.AppToken(appId, "EMEA");

        var na = await Query("sales_data", new { fields = new[] { "order_id", "region" }, filter = new[] { new { field = "region", op = "eq", value = "NA" } } }, token);
        na.Status.ShouldBe(200, na.Text);
        Rows(na).ShouldBeEmpty();

        var both = await Query("sales_data", new { fields = new[] { "region" }, filter = new object[] { new { field = "region", op = "in", value = new[] { "EMEA", "NA", "APAC" } } }, limit = 1000 }, token);
        Rows(both).ShouldNotBeEmpty();
        Rows(both).ShouldAllBe(r => r["region"]!.GetValue<string>() == "EMEA");

        var all = await Query("customers", new { fields = new[] { "customer_id", "region" }, limit = 1000 }, token);
        Rows(all).Count.ShouldBe(100);   // 300 demo customers, a third in EMEA
        Rows(all).ShouldAllBe(r => r["region"]!.GetValue<string>() == "EMEA");
    }

    [Fact]
    public async Task A_token_without_a_region_sees_no_rows_at_all()
    {
        var appId = await ledger.DataApp("noregion");
        var token = await ledger.AppToken(appId, region: null);
        var answer = await Query("customers", new { fields = new[] { "customer_id" } }, token);
        Rows(answer).ShouldBeEmpty();
        // The empty answer says why, and what to do about it.
        answer.Str("note").ShouldContain("row-level security");
        answer.Str("note").ShouldContain("end user whose sign-in carries a region");
        var filtered = await Query("customers", new { fields = new[] { "customer_id" }, filter = new[] { new { field = "customer_id", op = "eq", value = "-1" } } },
            await ledger.AppToken(appId, "EMEA"));
        Rows(filtered).ShouldBeEmpty();
        filtered.Str("note").ShouldBe("No rows: row-level security shows only rows whose region is EMEA, and the filter matched none of them.");
    }

    [Fact]
    public async Task PII_is_masked_without_the_pii_scope_and_clear_with_it()
    {
        var appId = await ledger.DataApp("mask");
        var withoutPii = await ledger.AppToken(appId, "NA", "read:customers");
        var masked = await Query("customers", new { fields = new[] { "customer_id", "email", "phone" }, order_by = new[] { "customer_id" }, limit = 5 }, withoutPii);
        masked.Status.ShouldBe(200, masked.Text);
        masked.Node("masked_fields")!.AsArray().Select(f => f!.GetValue<string>()).ShouldBe(["email", "phone"]);
        foreach (var row in Rows(masked))
        {
            row["email"]!.GetValue<string>().ShouldMatch(@"^c\*\*\*@example\.com$");
            row["phone"]!.GetValue<string>().ShouldMatch(@"^\*\*\* \d{4}$");
        }

        var withPii = await ledger.AppToken(appId, "NA", "read:customers", "read:pii");
        var clear = await Query("customers", new { fields = new[] { "customer_id", "email" }, order_by = new[] { "customer_id" }, limit = 5 }, withPii);
        clear.Node("masked_fields")!.AsArray().ShouldBeEmpty();
        Rows(clear).ShouldAllBe(r => r["email"]!.GetValue<string>() == $"customer{r["customer_id"]!.GetValue<int>()}@example.com");

        var executed = (await ledger.AccessEvents(appId)).OfType<QueryExecuted>().ToList();
        executed.ShouldContain(q => q.MaskedFields.SequenceEqual(new[] { "email", "phone" }));
        executed.ShouldContain(q => q.MaskedFields.Count == 0 && q.Fields.Contains("email"));
    }

    [Fact]
    public async Task Filtering_or_sorting_on_a_masked_field_is_refused()
    {
        var appId = await ledger.DataApp("probe");
        var token = await ledger.AppToken(appId, "EMEA", "read:customers");
        var probe = await Query("customers", new { fields = new[] { "customer_id" }, filter = new[] { new { field = "email", op = "prefix", value = "customer1" } } }, token);
        probe.Status.ShouldBe(403);
        probe.Text.ShouldContain("masked-field-predicate");
        (await Query("customers", new { fields = new[] { "customer_id" }, order_by = new[] { "phone" } }, token)).Status.ShouldBe(403);
    }

    public static TheoryData<string> Injections => new()
    {
        "' OR '1'='1", "EMEA' OR region <> 'EMEA' --", "EMEA'); DROP TABLE customers; --", "\\' OR 1=1 --",
        "x\" OR \"1\"=\"1", "NA' UNION SELECT email, phone FROM customers --", "'; SET app.region = 'NA'; --",
        "' OR current_setting('app.region') IS NOT NULL --", "$1", "%' OR region LIKE '%"
    };

    [Theory]
    [MemberData(nameof(Injections))]
    public async Task Injection_strings_in_filter_values_return_no_extra_rows_and_no_sql(string attack)
    {
        var appId = await ledger.DataApp("sqli");
        var token = await ledger.AppToken(appId, "EMEA");
        foreach (var op in new[] { "eq", "ne", "prefix", "gt" })
        {
            var response = await Query("customers", new { fields = new[] { "customer_id", "region" }, filter = new[] { new { field = "region", op, value = attack } }, limit = 1000 }, token);
            response.Status.ShouldBeOneOf(200, 400);
            response.Text.ShouldNotContain("select", Case.Insensitive);
            response.Text.ShouldNotContain("syntax");
            if (response.Status == 200)
                Rows(response).ShouldAllBe(r => r["region"]!.GetValue<string>() == "EMEA");
        }
        var inList = await Query("customers", new { fields = new[] { "region" }, filter = new[] { new { field = "region", op = "in", value = new[] { attack, "NA" } } } }, token);
        Rows(inList).ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Injections))]
    public async Task Injection_strings_as_field_names_order_by_and_operators_get_400(string attack)
    {
        var appId = await ledger.DataApp("sqlf");
        var token = await ledger.AppToken(appId, "EMEA");
        var bodies = new object[]
        {
            new { fields = new[] { attack } },
            new { fields = new[] { "region" }, filter = new[] { new { field = attack, op = "eq", value = "EMEA" } } },
            new { fields = new[] { "region" }, filter = new[] { new { field = "region", op = attack, value = "EMEA" } } },
            new { fields = new[] { "region" }, order_by = new[] { attack } },
            new { fields = new[] { "region" }, order_by = new[] { "-" + attack } },
        };
        foreach (var body in bodies)
        {
            var response = await Query("customers", body, token);
            response.Status.ShouldBe(400, response.Text);
            response.ContentType.ShouldBe("application/problem+json");
            response.Text.ShouldNotContain("syntax");
            response.Node("errors")!.AsArray().ShouldNotBeEmpty();
        }
    }

    [Fact]
    public async Task Unknown_datasets_ungranted_fields_and_bad_values_are_refused_clearly()
    {
        var appId = await ledger.DataApp("grant");
        var token = await ledger.AppToken(appId, "EMEA");
        (await Query("salaries", new { fields = new[] { "x" } }, token)).Status.ShouldBe(404);
        var ungranted = await Query("customers", new { fields = new[] { "segment" } }, token);
        ungranted.Status.ShouldBe(403);
        ungranted.Text.ShouldContain("segment");
        var badLimit = await Query("customers", new { limit = 5000 }, token);
        badLimit.Status.ShouldBe(400);
        badLimit.Node("errors.0.field")!.GetValue<string>().ShouldBe("limit");
        var badType = await Query("sales_data", new { fields = new[] { "order_id" }, filter = new[] { new { field = "amount", op = "gt", value = "lots" } } }, token);
        badType.Status.ShouldBe(200);   // compared as text: a nonsense string matches nothing harmful
        var typed = await Query("sales_data", new { fields = new[] { "order_id" }, filter = new object[] { new { field = "region", op = "gt", value = 5 } } }, token);
        typed.Status.ShouldBe(400);
        typed.Text.ShouldContain("value-type");
        typed.Text.ShouldNotContain("numeric");
        typed.Node("errors.0.field")!.GetValue<string>().ShouldBe("filter[0].value");
        // Beside a number compared with a numeric field, only the clause that does not fit is named.
        var beside = await Query("sales_data", new
        {
            fields = new[] { "order_id" },
            filter = new object[] { new { field = "order_id", op = "gt", value = 1 }, new { field = "region", op = "eq", value = 5 } }
        }, token);
        beside.Status.ShouldBe(400, beside.Text);
        beside.Node("errors")!.AsArray().Select(e => e!["field"]!.GetValue<string>()).ShouldBe(["filter[1].value"]);
        // A field not granted is named where it was asked for.
        var notGranted = await Query("sales_data", new
        {
            fields = new[] { "order_id", "ordered_at" },
            filter = new object[] { new { field = "ordered_at", op = "gt", value = "2026-01-01" } },
            order_by = new[] { "-ordered_at" }
        }, token);
        notGranted.Status.ShouldBe(403);
        notGranted.Node("type")!.GetValue<string>().ShouldEndWith("/field-not-granted");
        notGranted.Node("errors")!.AsArray().Select(e => (e!["field"]!.GetValue<string>(), e["rule"]!.GetValue<string>()))
            .ShouldBe([("fields[1]", "field-not-granted"), ("filter[0].field", "field-not-granted"), ("order_by[0]", "field-not-granted")]);

        // A number against a time cannot even be cast: the same 400, naming the clause, never the source's 502.
        var timed = await ledger.DataAppWith("timed", null, Datasets(("sales_data", ["order_id", "region", "ordered_at"])));
        token = await ledger.AppToken(timed, "EMEA");
        var time = await Query("sales_data", new
        {
            fields = new[] { "order_id" },
            filter = new object[] { new { field = "region", op = "eq", value = "EMEA" }, new { field = "ordered_at", op = "gt", value = 5 } }
        }, token);
        time.Status.ShouldBe(400, time.Text);
        time.Node("errors.0.field")!.GetValue<string>().ShouldBe("filter[1].value");
        time.Node("errors.0.rule")!.GetValue<string>().ShouldBe("value-type");
        time.Node("errors")!.AsArray().Count.ShouldBe(1);
        time.Text.ShouldNotContain("timestamp");
        // Two clauses that do not fit are both named, though PostgreSQL stops at the first.
        var twice = await Query("sales_data", new
        {
            fields = new[] { "order_id" },
            filter = new object[] { new { field = "ordered_at", op = "gt", value = 1 }, new { field = "order_id", op = "gt", value = 1 }, new { field = "ordered_at", op = "lt", value = 9 } }
        }, token);
        twice.Status.ShouldBe(400, twice.Text);
        twice.Node("errors")!.AsArray().Select(e => e!["field"]!.GetValue<string>()).ShouldBe(["filter[0].value", "filter[2].value"]);
    }

    [Fact]
    public async Task The_daily_row_budget_answers_429()
    {
        var appId = await ledger.DataApp("rows", new JsonObject { ["rows_per_day"] = 150, ["requests_per_second"] = 100 });
        var token = await ledger.AppToken(appId, "EMEA");
        var first = await Query("customers", new { fields = new[] { "customer_id" }, limit = 100 }, token);
        Rows(first).Count.ShouldBe(100);
        var second = await Query("customers", new { fields = new[] { "customer_id" }, limit = 100 }, token);
        Rows(second).Count.ShouldBe(50);
        second.Node("truncated")!.GetValue<bool>().ShouldBeTrue();
        var third = await Query("customers", new { fields = new[] { "customer_id" } }, token);
        third.Status.ShouldBe(429);
        third.RetryAfter.ShouldNotBeNull();
    }

    [Fact]
    public async Task Each_query_is_recorded_with_its_shape_and_pii_filter_values_are_never_stored()
    {
        var appId = await ledger.DataApp("shape");
        var token = await ledger.AppToken(appId, "EMEA", "read:customers", "read:pii");
        var response = await Query("customers", new
        {
            fields = new[] { "customer_id", "email" },
            filter = new object[] { new { field = "region", op = "eq", value = "EMEA" }, new { field = "email", op = "prefix", value = "customer3" } },
            order_by = new[] { "-customer_id" },
            limit = 10
        }, token);
        response.Status.ShouldBe(200, response.Text);

        var executed = (await ledger.AccessEvents(appId)).OfType<QueryExecuted>().Single(q => q.RequestId == response.RequestId);
        executed.Dataset.ShouldBe("customers");
        executed.Fields.ShouldBe(["customer_id", "email"]);
        executed.Filter.ShouldBe([new FilterTerm("region", "eq", "EMEA"), new FilterTerm("email", "prefix", null)]);
        executed.OrderBy.ShouldBe(["-customer_id"]);
        executed.Rows.ShouldBe(Rows(response).Count);
        executed.RlsRegion.ShouldBe("EMEA");
        executed.PolicyId.ShouldBe("runtime-scopes-required");
        executed.DatabaseRole.ShouldStartWith("app_");
        // The query event is also the request's access event: one ledger row, no AccessRecorded beside it.
        executed.Request.ShouldNotBeNull();
        executed.Request.Plane.ShouldBe("data");
        executed.Request.Route.ShouldBe("data/customers");
        executed.Request.Method.ShouldBe("POST");
        executed.Request.Path.ShouldBe("/data/customers/query");
        executed.Request.Status.ShouldBe(200);
        executed.Request.TokenId.ShouldNotBeNullOrEmpty();
        executed.Request.LatencyMs.ShouldBeGreaterThan(0);
        executed.Request.BytesIn.ShouldBeGreaterThan(0);
        executed.Bytes.ShouldBe(System.Text.Encoding.UTF8.GetByteCount(response.Text));
        (await ledger.AccessEvents(appId)).OfType<AccessRecorded>().ShouldNotContain(a => a.RequestId == response.RequestId);
    }

    [Fact]
    public async Task Queries_run_as_a_short_lived_non_superuser_login_whose_minting_is_recorded()
    {
        var appId = await ledger.DataApp("cred");
        var token = await ledger.AppToken(appId, "EMEA");
        (await Query("customers", new { fields = new[] { "customer_id" }, limit = 1 }, token)).Status.ShouldBe(200);

        var minted = (await ledger.StreamOf(GovernanceLedger.DataProxy.EphemeralCredentials.StreamFor(appId)))
            .Select(e => e.Data).OfType<DatabaseCredentialMinted>().Single();
        minted.ValidUntil.ShouldBeGreaterThan(ledger.Clock.GetUtcNow());
        minted.ValidUntil.ShouldBeLessThanOrEqualTo(ledger.Clock.GetUtcNow().AddMinutes(16));
        System.Text.Json.JsonSerializer.Serialize(minted).ShouldNotContain("password", Case.Insensitive);

        await using var admin = new NpgsqlConnection(ledger.SalesConnectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand("select rolsuper, rolbypassrls, rolcanlogin, rolvaliduntil is not null from pg_roles where rolname = $1", admin);
        command.Parameters.Add(new NpgsqlParameter { Value = minted.Role });
        await using var reader = await command.ExecuteReaderAsync();
        (await reader.ReadAsync()).ShouldBeTrue();
        reader.GetBoolean(0).ShouldBeFalse();   // not a superuser: row-level security applies
        reader.GetBoolean(1).ShouldBeFalse();   // cannot bypass RLS
        reader.GetBoolean(2).ShouldBeTrue();
        reader.GetBoolean(3).ShouldBeTrue();    // VALID UNTIL is set
    }

    [Fact]
    public async Task The_app_can_list_what_it_may_query_and_how_it_is_masked()
    {
        var appId = await ledger.DataApp("list");
        var token = await ledger.AppToken(appId, "EMEA", "read:customers");
        var listed = await ledger.Get("/data", token);
        listed.Status.ShouldBe(200, listed.Text);
        var datasets = listed.Node("datasets")!.AsArray();
        datasets.Select(d => d!["name"]!.GetValue<string>()).ShouldBe(["customers"]);
        datasets[0]!["masked_fields"]!.AsArray().Select(m => m!["field"]!.GetValue<string>()).ShouldBe(["email", "phone"]);
        datasets[0]!["row_level_security"]!.GetValue<string>().ShouldBe("region");
    }
}
