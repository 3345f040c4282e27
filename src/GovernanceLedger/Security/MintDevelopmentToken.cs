using GovernanceLedger.Infrastructure;

namespace GovernanceLedger.Security;

/// <summary>POST /dev/tokens: a people token for any subject and known roles, signed by the development issuer.</summary>
public static class MintDevelopmentToken
{
    public static IResult Handle(DevTokenRequest request, DevelopmentIssuer issuer, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(request.Sub) || request.Sub.Length > 200)
            return Problem.Invalid("sub", "required", "sub (1 to 200 characters) is required.").ToResult();
        var unknown = (request.Roles ?? []).Where(r => !Role.All.Contains(r)).ToList();
        if (unknown.Count > 0)
            return Problem.Invalid("roles", "enum", $"Unknown roles: {string.Join(", ", unknown)}. Known: {string.Join(", ", Role.All)}.").ToResult();
        var (token, expiresIn) = issuer.Mint(request, configuration["People:Audience"] ?? "governance-ledger");
        return Results.Ok(new { access_token = token, token_type = "Bearer", expires_in = expiresIn });
    }
}
