using System.Text.Json;
using GovernanceLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Npgsql;
using Wolverine.Http;

namespace GovernanceLedger.Audit;

/// <summary>
/// GET /audit/chain-export: the chained events with their recorded hashes, as NDJSON, so anyone can
/// recompute the chain without the service (see the README for a ten-line checker).
/// </summary>
public static class ExportChain
{
    [WolverineGet("/audit/chain-export", OperationId = "exportChain"), Authorize(Policy = AuditSetup.AuditorPolicy)]
    [Tags("Audit")]
    public static async Task Get(long? from, long? to, HttpContext context, LedgerDatabase ledger, CancellationToken ct)
    {
        context.Response.ContentType = "application/x-ndjson";
        await using var command = ledger.Source.CreateCommand($"""
            select l.seq_id, e.stream_id, e.version, e.type, e.timestamp, e.data::text, l.content_hash, l.link
            from {LedgerSetup.Schema}.chain_links l join {LedgerSetup.Schema}.mt_events e on e.seq_id = l.seq_id
            where l.seq_id between $1 and $2 order by l.seq_id
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = from ?? 1 });
        command.Parameters.Add(new NpgsqlParameter { Value = to ?? long.MaxValue });
        await using var reader = await command.ExecuteReaderAsync(ct);
        await using var writer = new StreamWriter(context.Response.Body);
        while (await reader.ReadAsync(ct))
        {
            await writer.WriteLineAsync(JsonSerializer.Serialize(new
            {
                sequence = reader.GetInt64(0),
                stream = reader.GetString(1),
                version = reader.GetInt64(2),
                type = reader.GetString(3),
                timestamp = reader.GetFieldValue<DateTimeOffset>(4).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ"),
                data = reader.GetString(5),
                content_hash = Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(6)),
                link = Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(7))
            }));
        }
    }
}
