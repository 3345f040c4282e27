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
