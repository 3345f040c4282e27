using GovernanceLedger.Apps;
using GovernanceLedger.Audit;
using GovernanceLedger.Chargeback;
using GovernanceLedger.WebConsole;
using GovernanceLedger.Demo;
using GovernanceLedger.DataProxy;
using GovernanceLedger.Gateway;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Policies;
using GovernanceLedger.Security;
using GovernanceLedger.Streaming;
using GovernanceLedger.Telemetry;
using GovernanceLedger.Operations;
using Scalar.AspNetCore;
using GovernanceLedger.Warehouse;
using Wolverine.Http;
using Wolverine.Http.Marten;

var builder = WebApplication.CreateBuilder(args);

builder.AddLedger();
builder.AddLedgerTelemetry();
builder.AddPeopleAuthentication();
builder.AddCredentials();
builder.AddAppTokenAuthentication();
builder.AddDataPlane();
builder.AddGateway();
builder.AddDataProxy();
builder.AddWarehouse();
builder.AddAudit();
builder.AddChargeback();
builder.AddStreaming();
builder.AddPolicies();
builder.AddApps();
builder.AddDemo();
builder.AddOperations();
builder.AddConsole();

builder.Services.AddSingleton(TimeProvider.System);
// A route or query value the framework cannot bind throws in every environment, so the exception handler
// answers it as a problem naming the parameter (by default only Development throws; elsewhere it is an empty 400).
builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
{
    // A query value that does not parse (Wolverine names the parameter): the same shape as every other refusal.
    if (context.ProblemDetails.Extensions.TryGetValue("parameter", out var parameter) && parameter is string name)
        context.ProblemDetails.Extensions["errors"] = new[]
        {
            new GovernanceLedger.Infrastructure.Violation(name, "type", $"'{name}' has the wrong type or is out of range for this request.")
        };
});
builder.Services.AddExceptionHandler<LedgerExceptionHandler>();
builder.Services.AddLedgerOpenApi();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
// Every data-plane request leaves an access record, whatever ends it (a path or method routing refuses, an unreadable
// body, a client gone, a failure): inside the exception handler and the status-code pages, so it records first.
app.UseMiddleware<GovernanceLedger.DataPlane.DataPlaneRecords>();
app.UseGateway();
// Routing here rather than at the head of the pipeline, where the host would put it: the gateway's requests never need it.
app.UseRouting();
app.UseConsoleHeaders();
app.UseStaticFiles();
app.UseMiddleware<MetricsScrapeGuard>();
// Every control-plane body is strict JSON before any endpoint sees it (the data plane checks its own).
app.UseMiddleware<StrictJsonMiddleware>();
// Data-plane requests carry app tokens, which the guard checks itself; trying them as people tokens
// first would only cost a signature check and an exception per request.
app.UseWhen(context => !AppTokenAuthentication.IsDataPlane(context.Request.Path), branch =>
{
    branch.UseAuthentication();
    branch.UseAuthorization();
    branch.UseRateLimiter();
    // The console's forms carry antiforgery tokens (its session is a cookie); the API's bearer calls need none.
    branch.UseAntiforgery();
});
// The host would otherwise put authentication and authorization at the head of the pipeline for every request: it
// does not see them inside the branch above. Data-plane requests would then run the people schemes (a JWT bearer
// handler among them) on their app tokens, and the control plane would authenticate twice.
((IApplicationBuilder)app).Properties["__AuthenticationMiddlewareSet"] = true;
((IApplicationBuilder)app).Properties["__AuthorizationMiddlewareSet"] = true;

app.MapOpenApi();
app.MapScalarApiReference();
app.MapPrometheusScrapingEndpoint();
app.MapWolverineEndpoints(opts =>
{
    opts.MapMartenConcurrencyFailuresToConflict();
    // "?from=abc" is a client's mistake to be told about, never a request run as if from were absent.
    opts.RejectUnparseableQueryValues = true;
});
app.MapHealth();
app.MapDataProxy();
app.MapWarehouse();
app.MapStreaming();
app.MapConsole();
if (app.Environment.IsDevelopment())
    app.MapDevelopmentIssuer();

app.Run();

/// <summary>Exposed for the integration tests' host.</summary>
public partial class Program;
