using GovernanceLedger.Gateway;
using Microsoft.AspNetCore.Http;
using Shouldly;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>Which paths go straight to the gateway: those the route template /gw/{route}/{**rest} matched, and no other.</summary>
public class Gateway_lane_unit_tests
{
    [Theory]
    [InlineData("/gw/crm/contacts", "crm")]
    [InlineData("/gw/crm", "crm")]
    [InlineData("/gw/crm/", "crm")]
    [InlineData("/GW/crm/contacts", "crm")]
    [InlineData("/Gw/CRM/contacts/1", "CRM")]
    [InlineData("/gw/crm//responses", "crm")]
    [InlineData("/gw/crm%2Fx/contacts", "crm%2Fx")]
    public void A_gateway_path_names_its_route(string path, string route) =>
        GatewaySetup.RouteOf(new PathString(path)).ShouldBe(route);

    [Theory]
    [InlineData("/gw")]
    [InlineData("/gw/")]
    [InlineData("/gw//contacts")]
    [InlineData("/gwx/crm/contacts")]
    [InlineData("/data/contacts")]
    [InlineData("/apps")]
    [InlineData("/")]
    public void Any_other_path_is_left_to_routing(string path) =>
        GatewaySetup.RouteOf(new PathString(path)).ShouldBeNull();
}

/// <summary>Which exposed path a request lands on: a route exposes only the shapes and methods it declares.</summary>
public class Route_match_unit_tests
{
    private static readonly GatewayRoute Crm = new()
    {
        Name = "crm",
        Paths =
        [
            new ExposedPath { Method = "GET", Pattern = "/contacts" },
            new ExposedPath { Method = "GET", Pattern = "/contacts/{id}" },
            new ExposedPath { Method = "POST", Pattern = "/contacts" },
            new ExposedPath { Method = "GET", Pattern = "contacts/{id}/notes/" },
        ]
    };

    [Theory]
    [InlineData("GET", "/contacts", "/contacts")]
    [InlineData("get", "/contacts", "/contacts")]
    [InlineData("POST", "/contacts", "/contacts")]
    [InlineData("GET", "/contacts/42", "/contacts/{id}")]
    [InlineData("GET", "/contacts/a-b_c.d~e", "/contacts/{id}")]
    [InlineData("GET", "/contacts/42/notes", "contacts/{id}/notes/")]
    public void A_declared_shape_and_method_is_matched(string method, string path, string pattern)
    {
        var (outcome, exposed) = RouteMatch.Find(Crm, method, path);
        outcome.ShouldBe(RouteMatch.Outcome.Matched);
        exposed!.Pattern.ShouldBe(pattern);
    }

    [Theory]
    [InlineData("DELETE", "/contacts/42")]
    [InlineData("PUT", "/contacts")]
    public void A_declared_shape_with_another_method_is_not_allowed(string method, string path) =>
        RouteMatch.Find(Crm, method, path).ShouldBe((RouteMatch.Outcome.MethodNotAllowed, null));

    [Theory]
    [InlineData("/responses")]
    [InlineData("/contacts/42/extra")]
    [InlineData("/contacts/")]
    [InlineData("/contacts//42")]
    [InlineData("/contacts/../responses")]
    [InlineData("/contacts/./42")]
    [InlineData("/contacts/4%2F2")]
    [InlineData("/contacts;/42")]
    [InlineData("/Contacts")]
    [InlineData("/contacts/42/notes/x")]
    [InlineData("/")]
    [InlineData("")]
    [InlineData("contacts")]
    public void Any_other_path_is_not_exposed(string path) =>
        RouteMatch.Find(Crm, "GET", path).ShouldBe((RouteMatch.Outcome.NotExposed, null));
}

/// <summary>The end user's name as the upstream reads it: one name, never a list or a quoted string.</summary>
public class End_user_header_unit_tests
{
    [Theory]
    [InlineData("rep@example.com", "rep@example.com", false)]
    [InlineData("o'brien@example.com", "o%27brien%40example.com", true)]
    [InlineData("first.last+tag@sub-domain.example.com", "first.last+tag@sub-domain.example.com", false)]
    [InlineData("Rep Name", "Rep%20Name", true)]
    [InlineData("rep@example.com;admin=true", "rep%40example.com%3Badmin%3Dtrue", true)]
    [InlineData("a\\b@example.com", "a%5Cb%40example.com", true)]
    [InlineData("rep@example.com, ceo@example.com", "rep%40example.com%2C%20ceo%40example.com", true)]
    [InlineData("\"ceo@example.com\"", "%22ceo%40example.com%22", true)]
    [InlineData("josé@example.com", "jos%C3%A9%40example.com", true)]
    [InlineData("100%", "100%25", true)]
    [InlineData(" padded", "%20padded", true)]
    public void A_name_that_could_read_as_more_than_one_is_percent_encoded(string user, string value, bool encoded) =>
        UpstreamHeaders.EndUserHeader(user).ShouldBe((value, encoded));
}

/// <summary>Which client header values the gateway passes on: plain text an upstream reads as the gateway does.</summary>
public class Header_value_unit_tests
{
    [Theory]
    [InlineData("application/json")]
    [InlineData("text/html, */*;q=0.8")]
    [InlineData("W/\"etag-1\"")]
    [InlineData("agent\twith tab")]
    [InlineData("")]
    public void Plain_text_passes(string value) => UpstreamHeaders.PassesAsIs(value).ShouldBeTrue();

    [Theory]
    [InlineData("fr-\u00e9")]          // beyond ASCII: the upstream request would fail before it leaves
    [InlineData("a\u0001b")]           // C0 control
    [InlineData("a\u007fb")]           // DEL
    [InlineData("a\u0085b")]           // C1 control
    [InlineData("a\u2028b")]           // line separator
    [InlineData("a\rb")]
    [InlineData("a\nb")]
    public void Anything_else_does_not(string value) => UpstreamHeaders.PassesAsIs(value).ShouldBeFalse();
}
