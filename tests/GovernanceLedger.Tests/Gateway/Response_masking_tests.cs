using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GovernanceLedger.Gateway;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using Shouldly;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>The gateway's one-pass response shaping: what an app receives from a route that carries a dataset.</summary>
public sealed class Response_masking_tests
{
    private static readonly Masking Masking = new(Encoding.UTF8.GetBytes("test-salt"));

    private static readonly DatasetEntry Contacts = new()
    {
        Name = "contacts",
        Fields = ["id", "name", "email", "phone", "notes", "region"],
        Pii = ["email", "phone", "notes"],
        Masking = new(StringComparer.Ordinal) { ["email"] = "partial", ["phone"] = "partial", ["notes"] = "hash" }
    };

    private static (JsonNode? Body, IReadOnlyList<string> Masked) Shape(string json, bool maskPii = true, IReadOnlyCollection<string>? granted = null) =>
        Shape(Encoding.UTF8.GetBytes(json), maskPii, granted);

    private static (JsonNode? Body, IReadOnlyList<string> Masked) Shape(byte[] json, bool maskPii = true, IReadOnlyCollection<string>? granted = null)
    {
        var output = new ArrayBufferWriter<byte>();
        var masked = ResponseMasking.Mask(json, output, Contacts, Masking, maskPii, granted);
        return (JsonNode.Parse(output.WrittenSpan), masked);
    }

    [Fact]
    public void PII_is_masked_at_any_depth_and_in_any_case_and_everything_else_is_passed_on_as_it_was()
    {
        var (body, masked) = Shape("""
            {"page":1,"items":[{"id":7,"name":"Ana \u00e9\"quoted\"","EMAIL":"ana@example.com","score":1.50,"big":12345678901234567890,"exp":1e3,"ok":true,"none":null},
                               {"id":8,"owner":{"Phone":"+44 20 7946 0958","email":"owner@example.com"}}]}
            """);
        masked.ShouldBe(["email", "phone"]);
        var text = body!.ToJsonString();
        text.ShouldNotContain("ana@example.com");
        text.ShouldNotContain("owner@example.com");
        text.ShouldNotContain("7946");
        body["items"]![0]!["EMAIL"]!.GetValue<string>().ShouldBe("a***@example.com");
        body["items"]![1]!["owner"]!["email"]!.GetValue<string>().ShouldBe("o***@example.com");
        body["items"]![1]!["owner"]!["Phone"]!.GetValue<string>().ShouldBe("*** 0958");
        body["items"]![0]!["name"]!.GetValue<string>().ShouldBe("Ana é\"quoted\"");
        // Numbers keep their exact text: no rounding through double, no reformatting.
        text.ShouldContain("\"score\":1.50");
        text.ShouldContain("\"big\":12345678901234567890");
        text.ShouldContain("\"exp\":1e3");
        body["items"]![0]!["ok"]!.GetValue<bool>().ShouldBeTrue();
        body["page"]!.GetValue<int>().ShouldBe(1);
    }

    [Fact]
    public void A_nested_value_under_a_PII_name_is_masked_whole_and_a_null_one_stays_null_and_unreported()
    {
        var (body, masked) = Shape("""{"notes":{"text":"call ana@example.com","tags":["vip"]},"email":null}""");
        masked.ShouldBe(["notes"]);
        body!["notes"]!.GetValue<string>().ShouldBe(Masking.Hash("""{"text":"call ana@example.com","tags":["vip"]}"""));
        body["email"].ShouldBeNull();
        body.AsObject().ContainsKey("email").ShouldBeTrue();
    }

    [Fact]
    public void A_nested_value_under_a_PII_name_whose_strategy_is_partial_is_hashed_so_no_member_shows_through()
    {
        var (body, masked) = Shape("""{"email":{"primary":"ana@example.com","backup":"ana.private@mail.example"},"phone":["020 7946 0958","07700 900123"]}""");
        masked.ShouldBe(["email", "phone"]);
        body!["email"]!.GetValue<string>().ShouldBe(Masking.Hash("""{"primary":"ana@example.com","backup":"ana.private@mail.example"}"""));
        body["phone"]!.GetValue<string>().ShouldBe(Masking.Hash("""["020 7946 0958","07700 900123"]"""));
        var text = body.ToJsonString();
        text.ShouldNotContain("example");
        text.ShouldNotContain("0123");
    }

    [Theory]
    [InlineData("ana@example.com", "a***@example.com")]
    [InlineData("+44 20 7946 0958", "*** 0958")]
    [InlineData("""{"primary":"ana@example.com","backup":"bo@mail.example"}""", "***")]
    [InlineData("ana@example.com, bo@mail.example", "***")]
    [InlineData("Ana <ana@example.com>", "***")]
    public void A_partial_mask_keeps_a_domain_only_of_a_value_that_is_one_address(string value, string expected)
    {
        Masking.Apply("partial", value).ShouldBe(expected);
    }

    [Fact]
    public void Members_of_fields_not_granted_are_removed_whatever_their_value_and_PII_is_left_clear_for_a_caller_who_may_read_it()
    {
        var (body, masked) = Shape("""[{"id":1,"region":{"code":"EMEA","nested":[1,2]},"email":"ana@example.com","Notes":"x"}]""",
            maskPii: false, granted: ["id", "email"]);
        masked.ShouldBeEmpty();
        var row = body!.AsArray()[0]!.AsObject();
        row.Select(p => p.Key).ShouldBe(["id", "email"]);
        row["email"]!.GetValue<string>().ShouldBe("ana@example.com");
    }

    [Theory]
    [InlineData("""{"email":"a@example.com","email":"b@example.com"}""", "a member twice in one object")]
    [InlineData("""{"id":1}{"id":2}""", "two values")]
    [InlineData("""{"id":1,}""", "a trailing comma")]
    [InlineData("""{"id":1 /* note */}""", "a comment")]
    [InlineData("""{"name":"\ud800"}""", "a lone surrogate in a string")]
    [InlineData("""{"\udc00":"x"}""", "a lone surrogate in a member name")]
    [InlineData("", "nothing")]
    [InlineData("""{"id":""", "a cut-off document")]
    public void A_response_that_is_not_one_strict_JSON_value_cannot_be_masked(string json, string what)
    {
        Should.Throw<JsonException>(() => Shape(json), what);
    }

    [Fact]
    public void A_response_deeper_than_the_limit_or_with_bytes_that_are_not_UTF8_cannot_be_masked()
    {
        var deep = new string('[', StrictJson.MaxDepth + 1) + new string(']', StrictJson.MaxDepth + 1);
        Should.Throw<JsonException>(() => Shape(deep));
        var invalid = Encoding.UTF8.GetBytes("""{"name":"Ana X"}""");
        invalid[Array.IndexOf(invalid, (byte)'X')] = 0xFF;
        Should.Throw<JsonException>(() => Shape(invalid));
    }
}
