using GovernanceLedger.Contracts.Security;
using GovernanceLedger.Infrastructure;
using Marten;
using Npgsql;

namespace GovernanceLedger.Security.KeyCustody;

/// <summary>
/// Earlier versions kept private keys as SigningKeyRecord documents in the ledger database, where
/// anyone with SELECT could sign. On start those keys are retired at once (never reused, no longer
/// published: tokens they signed stop verifying), the retirement is recorded, and the table is dropped.
/// Their public JWKs stay in the ledger's SigningKeyActivated history.
/// </summary>
public static class RetireDatabaseKeys
{
    private const string Table = $"{LedgerSetup.Schema}.mt_doc_signingkeyrecord";

    public static async Task<int> RunAsync(LedgerDatabase ledger, IDocumentStore store, TimeProvider clock, ILogger logger, CancellationToken ct)
    {
        await using (var exists = ledger.Source.CreateCommand($"select to_regclass('{Table}') is not null"))
            if (await exists.ExecuteScalarAsync(ct) is not true) return 0;

        var kids = new List<string>();
        // Only the ids are read: the private keys in that table are never loaded again.
        await using (var select = ledger.Source.CreateCommand($"select id from {Table}"))
        await using (var reader = await select.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) kids.Add(reader.GetString(0));

        var now = clock.GetUtcNow();
        if (kids.Count > 0)
        {
            await using var session = store.LightweightSession();
            foreach (var kid in kids)
                session.Events.Append(SigningKeys.StreamId, new SigningKeyRetired(kid, now, "key-custody", now, null,
                    "The private key was stored in the ledger database; it is never used or published again."));
            await session.SaveChangesAsync(ct);
        }
        await using (var drop = ledger.Source.CreateCommand($"""
            do $$ declare f record; begin
                for f in select p.oid::regprocedure as signature from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                         where n.nspname = '{LedgerSetup.Schema}' and p.proname like 'mt\_%\_signingkeyrecord' loop
                    execute 'drop function ' || f.signature;
                end loop;
                drop table if exists {Table};
            end $$;
            """))
            await drop.ExecuteNonQueryAsync(ct);
        logger.LogWarning("Retired {Count} signing keys that were stored in the ledger database and dropped {Table}", kids.Count, Table);
        return kids.Count;
    }
}
