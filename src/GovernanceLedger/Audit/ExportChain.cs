using System.Text.Json;
using GovernanceLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Npgsql;
using Wolverine.Http;

namespace GovernanceLedger.Audit;

/// <summary>
/// GET /audit/chain-export: the chain as NDJSON, one line per sequence number it recorded (events,
/// checkpoints, and holes without event fields), with the recorded hashes, so anyone can recompute
/// the chain and compare it with the witness without the service (scripts/verify_ledger.py).
/// </summary>
public static class ExportChain
{
    [WolverineGet("/audit/chain-export", OperationId = "exportChain"), Authorize(Policy = AuditSetup.AuditorPolicy)]
    [Tags("Audit")]
    public static async Task Get(long? from, long? to, HttpContext context, LedgerDatabase ledger, CancellationToken ct)
    {
        context.Response.ContentType = "application/x-ndjson";
        await using var command = ledger.Reads.CreateCommand($"""
            select l.seq_id, l.kind, e.stream_id, e.version, e.type, e.timestamp, e.data::text, l.content_hash, l.link,
                   l.format, e.id, e.correlation_id, e.causation_id, e.is_archived is not false, e.tenant_id, e.mt_dotnet_type, e.bdata is not null
            from {LedgerSetup.Schema}.chain_links l left join {LedgerSetup.Schema}.mt_events e on e.seq_id = l.seq_id
            where l.seq_id between $1 and $2 order by l.seq_id
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = from ?? 1 });
        command.Parameters.Add(new NpgsqlParameter { Value = to ?? long.MaxValue });
        await using var reader = await command.ExecuteReaderAsync(ct);
        await using var writer = new StreamWriter(context.Response.Body);
        while (await reader.ReadAsync(ct))
        {
            var line = new Dictionary<string, object?>
            {
                ["sequence"] = reader.GetInt64(0),
                ["kind"] = reader.GetString(1)
            };
            // A hole has no event; an event row that is gone is exported without one, and the verifier says so.
            if (!reader.IsDBNull(2))
            {
                line["stream"] = reader.GetString(2);
                line["version"] = reader.GetInt64(3);
                line["type"] = reader.GetString(4);
                line["timestamp"] = reader.GetFieldValue<DateTimeOffset>(5).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ");
                line["data"] = reader.GetString(6);
                // Format 2 content hashes cover the event's id, correlation id and causation id as well.
                var format = reader.GetInt16(9);
                line["format"] = format;
                if (format != 1)
                {
                    line["id"] = reader.GetGuid(10).ToString("D");
                    line["correlation_id"] = reader.IsDBNull(11) ? null : reader.GetString(11);
                    line["causation_id"] = reader.IsDBNull(12) ? null : reader.GetString(12);
                }
                // Outside the hash, but they change what the ledger reads back: a verifier checks them against what the ledger writes.
                line["archived"] = reader.GetBoolean(13);
                line["tenant"] = reader.IsDBNull(14) ? null : reader.GetString(14);
                line["dotnet_type"] = reader.IsDBNull(15) ? null : reader.GetString(15);
                line["binary"] = reader.GetBoolean(16);
            }
            line["content_hash"] = Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(7));
            line["link"] = Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(8));
            await writer.WriteLineAsync(JsonSerializer.Serialize(line));
        }
    }
}
