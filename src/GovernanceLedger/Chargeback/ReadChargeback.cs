using System.Globalization;
using System.Security.Claims;
using System.Text;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Projections.Catalog;
using GovernanceLedger.Projections.Chargeback;
using GovernanceLedger.Security;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Chargeback;

/// <summary>One line of the report. ScannedMegabytes is what the line's warehouse queries scanned, priced in Amount.</summary>
public sealed record ChargebackLine(
    string Key, long Requests, long Rows, decimal Megabytes, decimal ComputeSeconds, decimal Amount, decimal ScannedMegabytes = 0);

public sealed record ChargebackReport(
    string Month, string GroupBy, string Currency, IReadOnlyList<ChargebackLine> Lines, ChargebackLine Total);

/// <summary>
/// Monthly chargeback by app, owner or cost centre: usage per app per day from the projection,
/// priced with the rate card in force that day, summed in decimal so totals match the raw events
/// to the last digit. Owners and cost centres are those the catalog holds now.
/// </summary>
public static class ReadChargeback
{
    public const decimal BytesPerMegabyte = 1_000_000m;
    private static readonly string[] Groupings = ["app", "owner", "cost_center"];

    public static decimal Price(UsageDay day, Contracts.Chargeback.RateCardChanged? card) => card is null
        ? 0m
        : day.Requests * card.PerRequest + day.Rows * card.PerRow + day.Bytes / BytesPerMegabyte * card.PerMegabyte
          + day.ComputeMilliseconds / 1000m * card.PerComputeSecond + day.ScannedBytes / BytesPerMegabyte * card.PerScannedMegabyte;

    [WolverineGet("/chargeback", OperationId = "chargeback"), Authorize(Policy = PeopleAuthentication.Policies.Person)]
    [Tags("Chargeback")]
    public static async Task<IResult> Get(string? month, string? group_by, HttpContext context, ClaimsPrincipal user, IQuerySession session, CancellationToken ct)
    {
        if (!Budgets.TryParseMonth(month, out var first))
            return Problem.Invalid("month", "format", "month must be YYYY-MM.").ToResult();
        var groupBy = group_by ?? "app";
        if (!Groupings.Contains(groupBy))
            return Problem.Invalid("group_by", "enum", $"group_by must be one of {string.Join(", ", Groupings)}.").ToResult();

        var caller = Caller.From(user);
        var everything = caller.Has(Role.Finance) || caller.Has(Role.Auditor) || caller.IsAdmin;
        var catalog = (await session.Query<AppCatalogEntry>().ToListAsync(ct)).ToDictionary(a => a.Id);
        var last = first.AddMonths(1).AddDays(-1);
        var days = (await session.Query<UsageDay>().Where(d => d.Day >= first && d.Day <= last).ToListAsync(ct))
            .Where(d => catalog.ContainsKey(d.AppId))
            .Where(d => everything || caller.Owns(catalog[d.AppId].Owner))
            .ToList();
        var cards = await RateCards.CardsAsync(session, ct);

        string KeyOf(UsageDay d) => groupBy switch
        {
            "owner" => catalog[d.AppId].Owner,
            "cost_center" => catalog[d.AppId].CostCenter ?? "(none)",
            _ => d.AppId
        };
        var lines = days.GroupBy(KeyOf).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => new ChargebackLine(
            g.Key, g.Sum(d => d.Requests), g.Sum(d => d.Rows), g.Sum(d => d.Bytes) / BytesPerMegabyte,
            g.Sum(d => d.ComputeMilliseconds) / 1000m, g.Sum(d => Price(d, RateCards.InForce(cards, d.Day))), g.Sum(d => d.ScannedBytes) / BytesPerMegabyte)).ToList();
        var total = new ChargebackLine("total", lines.Sum(l => l.Requests), lines.Sum(l => l.Rows), lines.Sum(l => l.Megabytes),
            lines.Sum(l => l.ComputeSeconds), lines.Sum(l => l.Amount), lines.Sum(l => l.ScannedMegabytes));
        var report = new ChargebackReport(month, groupBy, RateCards.InForce(cards, last)?.Currency ?? "", lines, total);

        if (!context.Request.Headers.Accept.ToString().Contains("text/csv", StringComparison.OrdinalIgnoreCase))
            return Results.Json(report, LedgerSetup.ApiJson);
        var csv = new StringBuilder($"{groupBy},requests,rows,megabytes,compute_seconds,amount_{report.Currency.ToLowerInvariant()},scanned_megabytes\n");
        foreach (var l in lines.Append(total))
            csv.Append(Csv.Cell(l.Key)).Append(',').Append(l.Requests).Append(',').Append(l.Rows).Append(',')
                .Append(l.Megabytes.ToString(CultureInfo.InvariantCulture)).Append(',').Append(l.ComputeSeconds.ToString(CultureInfo.InvariantCulture))
                .Append(',').Append(l.Amount.ToString(CultureInfo.InvariantCulture)).Append(',').Append(l.ScannedMegabytes.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return Results.Text(csv.ToString(), "text/csv");
    }
}

public static class ChargebackSetup
{
    public static WebApplicationBuilder AddChargeback(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<RateCardOptions>(builder.Configuration.GetSection("Chargeback:RateCard"));
        builder.Services.AddHostedService<RateCards>();
        builder.Services.AddHostedService<BudgetWatch>();
        return builder;
    }
}
