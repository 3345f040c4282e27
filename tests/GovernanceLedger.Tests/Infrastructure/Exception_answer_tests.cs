using GovernanceLedger.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace GovernanceLedger.Tests.Infrastructure;

/// <summary>What a client hears when the server refuses its request: the status the data plane records, as a problem.</summary>
public sealed class Exception_answer_tests
{
    [Theory]
    [InlineData(408)]
    [InlineData(413)]
    [InlineData(431)]
    [InlineData(400)]
    public async Task A_request_the_server_refuses_is_answered_with_the_servers_own_status(int status)
    {
        var services = new ServiceCollection().AddLogging().AddProblemDetails().BuildServiceProvider();
        var context = new DefaultHttpContext { RequestServices = services };
        context.Request.Path = "/gw/crm/contacts";
        context.Response.Body = new MemoryStream();
        var handler = new LedgerExceptionHandler(services.GetRequiredService<Microsoft.AspNetCore.Http.IProblemDetailsService>(),
            NullLogger<LedgerExceptionHandler>.Instance);

        var handled = await handler.TryHandleAsync(context, new BadHttpRequestException("Reading the request body timed out due to data arriving too slowly.", status), default);

        handled.ShouldBeTrue();
        context.Response.StatusCode.ShouldBe(status);
        context.Response.ContentType.ShouldBe("application/problem+json");
        context.Response.Body.Position = 0;
        var problem = System.Text.Json.Nodes.JsonNode.Parse(context.Response.Body)!;
        problem["status"]!.GetValue<int>().ShouldBe(status);
        problem["errors"]!.AsArray().ShouldContain(e => e!["rule"]!.GetValue<string>() == "request");
    }
}
