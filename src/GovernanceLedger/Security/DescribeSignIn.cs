using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Security;

/// <summary>How people sign in to this ledger, for tools such as the govledger command line.</summary>
public sealed record SignInDescription(string? Issuer, string ClientId, string Audience, string Scope, bool DevelopmentIssuer);

/// <summary>
/// GET /auth/cli: where a command line signs people in. The identity provider (People:Authority) with the OAuth client
/// registered for the command line (People:CliClientId, "govledger-cli" by default) for the device-code flow, and
/// whether this ledger has a development issuer (POST /dev/tokens). Public: it names no secret.
/// </summary>
public static class DescribeSignIn
{
    [WolverineGet("/auth/cli", OperationId = "describeSignIn"), AllowAnonymous]
    [Tags("Credentials")]
    public static SignInDescription Get(IConfiguration configuration, IHostEnvironment environment) => new(
        configuration["People:Authority"] is { Length: > 0 } authority ? authority : null,
        configuration["People:CliClientId"] is { Length: > 0 } client ? client : "govledger-cli",
        configuration["People:Audience"] ?? "governance-ledger",
        "openid email profile",
        environment.IsDevelopment());
}
