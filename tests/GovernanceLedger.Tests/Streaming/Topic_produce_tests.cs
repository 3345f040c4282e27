using System.Text.Json.Nodes;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.SchemaRegistry.Serdes;
using GovernanceLedger.Contracts.Access;
using GovernanceLedger.Projections.Chargeback;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using static GovernanceLedger.Tests.Scenarios;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>Governed produce: an app writes to a curated topic only with a write grant, and only records its registered schema takes.</summary>
[Collection(StreamingCollection.Name)]
public sealed class Topic_produce_tests(StreamingFixture ledger)
{
    private const string Topic = "apps.feedback.v1";
    private const string Schema = """
        {"type":"record","name":"Feedback","namespace":"apps","fields":[
          {"name":"id","type":"long"},
          {"name":"rating","type":"int"},
          {"name":"channel","type":{"type":"enum","name":"Channel","symbols":["WEB","APP"]}},
          {"name":"comment","type":["null","string"],"default":null},
          {"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}}]}
        """;

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static (string App, string Token)? _writer;

    /// <summary>The topic, its schema and one app with a write grant: set up once for every test here.</summary>
    private async Task<(string App, string Token)> WriterAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_writer is { } ready) return ready;
            var requested = await ledger.Post("/topics/requests", new JsonObject
            {
                ["topic"] = Topic, ["partitions"] = 1, ["retention_days"] = 7, ["purpose"] = "feedback apps collect from their users"
            }.ToJsonString(), await ledger.PersonToken(Owner, "app-owner"));
            requested.Status.ShouldBe(201, requested.Text);
            var registered = await ledger.Post($"/registry/subjects/{Topic}-value/versions", new JsonObject { ["schema"] = Schema }.ToJsonString(),
                await ledger.PersonToken(Admin, "platform-admin"));
            registered.Status.ShouldBe(200, registered.Text);
            var app = await ledger.DataApp("feedback-writer");
            var granted = await Grant(app, "write");
            granted.Status.ShouldBe(201, granted.Text);
            _writer = (app, await ledger.AppToken(app));
            return _writer.Value;
        }
        finally
        {
            Gate.Release();
        }
    }

    private async Task<ApiResponse> Grant(string app, string? access) =>
        await ledger.Post($"/topics/{Topic}/grants", new JsonObject { ["app_id"] = app, ["reason"] = "collects feedback", ["access"] = access }.ToJsonString(),
            await ledger.PersonToken(Reviewer, "security-reviewer"));

    private static string Records(params string[] values) =>
        new JsonObject { ["records"] = new JsonArray(values.Select((v, i) => (JsonNode)new JsonObject { ["key"] = $"k{i}", ["value"] = JsonNode.Parse(v) }).ToArray()) }.ToJsonString();

    private static string Good(long id, string comment = "fast checkout") =>
        $$"""{"id":{{id}},"rating":5,"channel":"WEB","comment":"{{comment}}","at":"2026-11-29T10:00:00Z"}""";

    private long EndOffset()
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = ledger.Kafka.BootstrapServers, GroupId = "probe" }).Build();
        return consumer.QueryWatermarkOffsets(new TopicPartition(Topic, 0), TimeSpan.FromSeconds(10)).High.Value;
    }

    [Fact]
    public async Task An_app_with_a_write_grant_produces_records_its_schema_takes_and_each_produce_is_counted_and_charged()
    {
        var (app, token) = await WriterAsync();
        var before = EndOffset();
        var produced = await ledger.Post($"/topics/{Topic}/records", Records(Good(1), """{"id":2,"rating":3,"channel":"APP","at":1796000000000000}"""), token);
        produced.Status.ShouldBe(200, produced.Text);
        var positions = produced.Json!["records"]!.AsArray();
        positions.Count.ShouldBe(2);
        positions[0]!["offset"]!.GetValue<long>().ShouldBe(before);
        produced.Str("schema").ShouldBe("apps.Feedback");

        // On the topic: Confluent's wire format with the registered schema, readable by any Confluent consumer.
        using var registry = ledger.RegistryClient();
        var deserializer = new AvroDeserializer<GenericRecord>(registry);
        using var consumer = new ConsumerBuilder<string, byte[]>(new ConsumerConfig
        {
            BootstrapServers = ledger.Kafka.BootstrapServers, GroupId = $"check-{Guid.NewGuid():N}", EnableAutoCommit = false
        }).Build();
        consumer.Assign(new TopicPartitionOffset(Topic, 0, before));
        var read = new List<(string Key, GenericRecord Value)>();
        while (read.Count < 2 && consumer.Consume(TimeSpan.FromSeconds(10)) is { } message)
            read.Add((message.Message.Key, await deserializer.DeserializeAsync(message.Message.Value, false, new SerializationContext(MessageComponentType.Value, Topic))));
        read.Select(r => r.Key).ShouldBe(["k0", "k1"]);
        read[0].Value["comment"].ShouldBe("fast checkout");
        ((GenericEnum)read[1].Value["channel"]).Value.ShouldBe("APP");
        read[1].Value["comment"].ShouldBeNull("a field left out takes the schema's default");
        ((DateTime)read[0].Value["at"]).ShouldBe(new DateTime(2026, 11, 29, 10, 0, 0, DateTimeKind.Utc));

        // An access event, counted in the day's usage (the daily quota's count too) and charged by the bytes produced.
        var events = await ledger.AccessEvents(app);
        var access = events.OfType<AccessRecorded>().Last(e => e.Route == Topic && e.Status == 200);
        access.Method.ShouldBe("POST");
        access.Decision.ShouldBe(AccessDecisions.Allow);
        access.BytesOut.ShouldBeGreaterThan(0);
        await using var session = ledger.Host.Services.GetRequiredService<IDocumentStore>().QuerySession();
        var usage = await session.LoadAsync<UsageDay>(UsageDay.IdFor(app, access.At));
        usage!.Requests.ShouldBeGreaterThanOrEqualTo(1);
        usage.Bytes.ShouldBeGreaterThanOrEqualTo(access.BytesOut);
    }

    [Fact]
    public async Task A_record_that_does_not_fit_the_schema_refuses_the_whole_request_naming_the_field_and_nothing_is_produced()
    {
        var (app, token) = await WriterAsync();
        var before = EndOffset();
        var cases = new (string Value, string Field, string Rule)[]
        {
            ("""{"id":3,"rating":"five","channel":"WEB","at":"2026-11-29T10:00:00Z"}""", "records[1].value.rating", "avro-type"),
            ("""{"id":3,"rating":3000000000,"channel":"WEB","at":"2026-11-29T10:00:00Z"}""", "records[1].value.rating", "avro-type"),
            ("""{"id":3,"channel":"WEB","at":"2026-11-29T10:00:00Z"}""", "records[1].value.rating", "required"),
            ("""{"id":3,"rating":4,"channel":"FAX","at":"2026-11-29T10:00:00Z"}""", "records[1].value.channel", "enum-symbol"),
            ("""{"id":3,"rating":4,"channel":"WEB","at":"yesterday"}""", "records[1].value.at", "avro-type"),
            ("""{"id":3,"rating":4,"channel":"WEB","at":"2026-11-29T10:00:00Z","email":"a@b.c"}""", "records[1].value.email", "unknown-field"),
            ("""{"id":3,"rating":4,"channel":"WEB","comment":42,"at":"2026-11-29T10:00:00Z"}""", "records[1].value.comment", "avro-type"),
        };
        foreach (var (value, field, rule) in cases)
        {
            // The first record fits; the second does not: neither is produced.
            var refused = await ledger.Post($"/topics/{Topic}/records", Records(Good(10), value), token);
            refused.Status.ShouldBe(422, refused.Text);
            refused.ContentType.ShouldBe("application/problem+json");
            refused.Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe(field, value);
            refused.Json!["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe(rule, value);
        }
        EndOffset().ShouldBe(before, "nothing of a refused request reaches the topic");

        // Bodies that are not produce requests are refused by field too, before any schema is consulted.
        (await ledger.Post($"/topics/{Topic}/records", """{"records":[]}""", token)).Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("records");
        (await ledger.Post($"/topics/{Topic}/records", """{"records":[{"key":1,"value":{}}]}""", token)).Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("records[0].key");
        (await ledger.Post($"/topics/{Topic}/records", """{"records":[{"key":"a"}]}""", token)).Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("records[0].value");
        (await ledger.SendRaw(HttpMethod.Post, $"/topics/{Topic}/records", "{\"records\":[{\"value\":{}},{\"value\":{}}]"u8.ToArray(), "application/json", token)).Status.ShouldBe(400);
        EndOffset().ShouldBe(before);

        // Every refusal is an access event, denied, and none is billed.
        var denied = (await ledger.AccessEvents(app)).OfType<AccessRecorded>().Where(e => e.Route == Topic && e.Decision == AccessDecisions.Deny).ToList();
        denied.Count(e => e.Status == 422).ShouldBeGreaterThanOrEqualTo(cases.Length);
        denied.ShouldContain(e => e.Reason.Contains("records[1].value.rating"));
    }

    [Fact]
    public async Task Without_a_write_grant_an_app_cannot_produce_and_no_app_writes_to_a_topic_cdc_feeds()
    {
        await WriterAsync();
        var before = EndOffset();
        var reader = await ledger.DataApp("feedback-reader");
        var token = await ledger.AppToken(reader);
        var body = Records(Good(20));

        var none = await ledger.Post($"/topics/{Topic}/records", body, token);
        none.Status.ShouldBe(403, none.Text);
        none.Text.ShouldContain("write:topic:apps.feedback.v1");
        // A read grant lets it read, not write.
        (await Grant(reader, null)).Status.ShouldBe(201);
        (await ledger.Post($"/topics/{Topic}/records", body, token)).Status.ShouldBe(403);
        // Granted, then revoked: refused again.
        (await Grant(reader, "write")).Status.ShouldBe(201);
        (await ledger.Post($"/topics/{Topic}/records", body, token)).Status.ShouldBe(200);
        var reviewer = await ledger.PersonToken(Reviewer, "security-reviewer");
        (await ledger.Send(HttpMethod.Delete, $"/topics/{Topic}/grants/{reader}?reason=feedback+closed&access=write", null, reviewer)).Status.ShouldBe(200);
        (await ledger.Post($"/topics/{Topic}/records", body, token)).Status.ShouldBe(403);
        EndOffset().ShouldBe(before + 1, "only the produce made while the grant was active landed");

        // No token, another app's path spelled differently, a sandbox token: refused, each recorded.
        (await ledger.Post($"/topics/{Topic}/records", body, null)).Status.ShouldBe(401);
        (await ledger.Post($"/TOPICS/{Topic}/Records/", body, token)).Status.ShouldBe(403);
        var sandbox = await ledger.Post($"/apps/{reader}/sandbox/tokens", "{}",
            await ledger.PersonToken(new JsonObject { ["sub"] = Owner, ["roles"] = Strings("app-owner"), ["region"] = "NA" }));
        sandbox.Status.ShouldBe(200, sandbox.Text);
        var fromSandbox = await ledger.Post($"/topics/{Topic}/records", body, sandbox.Str("access_token"));
        fromSandbox.Status.ShouldBe(403, fromSandbox.Text);
        fromSandbox.Json!["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe("sandbox-token");

        // A grant names read or write; a topic a CDC connector feeds takes no write grant.
        var bad = await Grant(reader, "admin");
        bad.Status.ShouldBe(400);
        bad.Json!["errors"]![0]!["field"]!.GetValue<string>().ShouldBe("access");
        await ledger.OrdersConnector();
        var cdc = await ledger.Post($"/topics/{StreamingScenarios.SalesTopic}/grants", new JsonObject { ["app_id"] = reader, ["reason"] = "forge orders", ["access"] = "write" }.ToJsonString(), reviewer);
        cdc.Status.ShouldBe(409, cdc.Text);
        cdc.Json!["errors"]![0]!["rule"]!.GetValue<string>().ShouldBe("cdc-owned-topic");
        (await ledger.AccessEvents(reader)).OfType<AccessRecorded>().Count(e => e.Route == Topic && e.Decision == AccessDecisions.Deny).ShouldBeGreaterThanOrEqualTo(4);
    }

    [Fact]
    public async Task A_topic_a_connector_feeds_takes_no_app_records_whatever_grant_came_before_and_its_settings_are_the_platforms()
    {
        await ledger.OrdersConnector();
        var admin = await ledger.PersonToken(Admin, "platform-admin");
        var app = await ledger.DataApp("cdc-forger");
        // A write grant given before the connector was declared (as a ledger from before this check may hold one).
        var store = ledger.Host.Services.GetRequiredService<IDocumentStore>();
        await using (var session = store.LightweightSession())
        {
            session.Events.Append(app, new GovernanceLedger.Contracts.Streaming.TopicAccessGranted(app, StreamingScenarios.SalesTopic, "", "events from the app",
                SecondReviewer, DateTimeOffset.UtcNow, "write"));
            await session.SaveChangesAsync();
        }
        var token = await ledger.AppToken(app);
        var forged = await ledger.Post($"/topics/{StreamingScenarios.SalesTopic}/records",
            """{"records":[{"key":"1","value":{"connector":"salesdb-orders"}}]}""", token);
        forged.Status.ShouldBe(409, forged.Text);
        forged.Node("errors.0.rule")!.GetValue<string>().ShouldBe("cdc-owned-topic");
        (await ledger.AccessEvents(app)).OfType<AccessRecorded>().ShouldContain(a => a.Status == 409 && a.Reason.StartsWith("cdc-owned-topic"));

        // Declaring (again) onto a topic apps hold write grants on names them, to be revoked first.
        var declare = new JsonObject
        {
            ["connector_id"] = "salesdb-orders", ["source"] = "SalesDb", ["dataset"] = "orders", ["target_topic"] = StreamingScenarios.SalesTopic,
            ["tables"] = new JsonArray(new JsonObject
            {
                ["table"] = "orders", ["key"] = new JsonArray("order_id"),
                ["columns"] = new JsonArray("order_id", "customer_email", "region", "product", "amount", "status", "channel")
            })
        }.ToJsonString();
        var refused = await ledger.Post("/cdc/connectors", declare, admin);
        refused.Status.ShouldBe(409, refused.Text);
        refused.Node("errors.0.rule")!.GetValue<string>().ShouldBe("topic-has-writers");
        refused.Text.ShouldContain(app);
        (await ledger.Send(HttpMethod.Delete, $"/topics/{StreamingScenarios.SalesTopic}/grants/{app}?reason=the+topic+is+the+change+feed&access=write", null,
            await ledger.PersonToken(Reviewer, "security-reviewer"))).Status.ShouldBe(200);
        (await ledger.Post("/cdc/connectors", declare, admin)).Status.ShouldBe(201);

        // Whoever asked for the topic, its partitions and retention are the platform's while a connector feeds it.
        var squatter = await ledger.PersonToken(Owner, "app-owner");
        const string squatted = StreamingFixture.SquattedTopic;
        (await ledger.Post("/topics/requests", new JsonObject { ["topic"] = squatted, ["partitions"] = 1, ["retention_days"] = 7, ["purpose"] = "my app's events" }.ToJsonString(),
            squatter)).Status.ShouldBe(201);
        const string connector = "squat-orders";
        var unschemed = await ledger.Post("/cdc/connectors", declare.Replace("\"salesdb-orders\"", $"\"{connector}\"").Replace(StreamingScenarios.SalesTopic, squatted), admin);
        unschemed.Status.ShouldBe(409, unschemed.Text);
        unschemed.Node("errors.0.rule")!.GetValue<string>().ShouldBe("schema-required");
        var envelope = await ledger.Get($"/registry/subjects/{StreamingScenarios.SalesTopic}-value/versions/latest", null);
        (await ledger.Post($"/registry/subjects/{squatted}-value/versions", new JsonObject { ["schema"] = envelope.Json!["schema"]!.GetValue<string>() }.ToJsonString(), admin))
            .Status.ShouldBe(200);
        var fed = await ledger.Post("/cdc/connectors", declare.Replace("\"salesdb-orders\"", $"\"{connector}\"").Replace(StreamingScenarios.SalesTopic, squatted), admin);
        fed.Status.ShouldBe(201, fed.Text);
        var changed = await ledger.Post($"/topics/{squatted}/changes", """{"retention_days":1,"reason":"keep it short"}""", squatter);
        changed.Status.ShouldBe(403, changed.Text);
        changed.Node("errors.0.rule")!.GetValue<string>().ShouldBe("cdc-owned-topic");
        (await ledger.Send(HttpMethod.Delete, $"/cdc/connectors/{connector}?reason=test+done", null, admin)).Status.ShouldBe(200);
    }

    [Fact]
    public async Task A_produce_whose_body_arrives_after_its_grant_was_revoked_is_refused_when_the_body_is_in()
    {
        await WriterAsync();
        var app = await ledger.DataApp("slow-writer");
        (await Grant(app, "write")).Status.ShouldBe(201);
        var token = await ledger.AppToken(app);
        // The body's first bytes, then nothing until the grant is gone.
        var rest = new TaskCompletionSource();
        var body = Records(Good(77));
        using var client = ledger.Host.Server.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/topics/{Topic}/records") { Content = new SlowContent(body, rest.Task) };
        request.Headers.Authorization = new("Bearer", token);
        var before = EndOffset();
        var sending = client.SendAsync(request);
        (await ledger.Send(HttpMethod.Delete, $"/topics/{Topic}/grants/{app}?reason=feedback+closed&access=write", null,
            await ledger.PersonToken(Reviewer, "security-reviewer"))).Status.ShouldBe(200);
        rest.SetResult();
        using var answered = await sending;
        // Refused by the check after the body (or, when the revocation won the race with the request's admission, by the first
        // one): either way nothing reaches the topic.
        var text = await answered.Content.ReadAsStringAsync();
        ((int)answered.StatusCode).ShouldBe(403, text);
        text.ShouldContain("topic-grant");
        EndOffset().ShouldBe(before);
    }

    /// <summary>A request body that sends its first half, then the rest once told to.</summary>
    private sealed class SlowContent : HttpContent
    {
        private readonly string body;
        private readonly Task release;

        public SlowContent(string body, Task release)
        {
            (this.body, this.release) = (body, release);
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(body);
            await stream.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
            await stream.FlushAsync();
            await release;
            await stream.WriteAsync(bytes.AsMemory(bytes.Length / 2));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = System.Text.Encoding.UTF8.GetByteCount(body);
            return true;
        }
    }
}
