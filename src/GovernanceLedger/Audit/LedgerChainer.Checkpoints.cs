using System.Text;
using GovernanceLedger.Audit.Checkpoints;
using GovernanceLedger.Audit.Witness;
using GovernanceLedger.Contracts.Audit;
using GovernanceLedger.Security.KeyCustody;
using Microsoft.IdentityModel.Tokens;

namespace GovernanceLedger.Audit;

public sealed partial class LedgerChainer
{
    public const string CheckpointStream = "ledger-checkpoints";

    /// <summary>
    /// Chains everything committed and signs a checkpoint over it now, instead of waiting for the
    /// count or the interval (an auditor who wants a fresh head; tests). Returns the witnessed tree size.
    /// </summary>
    public async Task<long> CheckpointNowAsync(CancellationToken ct)
    {
        if (!_leader) throw new InvalidOperationException("This instance is not extending the chain (another holds the chainer lock, or it is halted).");
        while (await ChainAsync(ct) > 0) { }
        await _gate.WaitAsync(ct);
        try
        {
            if (_unappended is not null) await AppendCheckpointAsync();
            if (_sinceCheckpoint > 0) await CheckpointAsync(ct);
            return _witnessed;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task CheckpointIfDueAsync(CancellationToken ct)
    {
        if (_unappended is not null) await AppendCheckpointAsync();
        if (_sinceCheckpoint >= settings.CheckpointEvery
            || (_sinceCheckpoint > 0 && clock.GetUtcNow() - _lastCheckpoint >= settings.CheckpointInterval))
            await CheckpointAsync(ct);
    }

    /// <summary>Signs the head, has the witness keep it, then appends it to the ledger; the checkpoint is itself chained next.</summary>
    private async Task CheckpointAsync(CancellationToken ct)
    {
        var key = await keys.ActiveAsync(KeyPurposes.Checkpoints, ct);
        var now = clock.GetUtcNow();
        var linkHex = Convert.ToHexStringLower(_lastLink);
        var root = _frontier is { } frontier ? Convert.ToHexStringLower(frontier.Root()) : null;
        var statement = new CheckpointStatement(tokens.Issuer, _last, root, linkHex, _witnessed, now);
        var jws = CheckpointJws.Sign(statement, key.KeyId, key.Key);
        var leaves = _pending.ToArray();

        var kept = await witness.WitnessAsync(new WitnessedCheckpoint(_last, _witnessed, jws, leaves), ct);
        if (kept.Jws != jws)
        {
            // A checkpoint of this size was witnessed before (the host died before appending it): it must be this very tree.
            var earlier = CheckpointJws.Read(kept.Jws)?.Statement;
            if (earlier is null || earlier.Root != root || earlier.Link != linkHex || kept.PreviousTreeSize != _witnessed || !kept.Leaves.AsSpan().SequenceEqual(leaves))
                throw new ChainHaltedException($"The witness already holds a different checkpoint at {_last}: the chain up to it was rewritten.");
            jws = kept.Jws;
        }

        var signer = key.Key.CryptoProviderFactory.CreateForSigning(key.Key, SecurityAlgorithms.RsaSha256);
        string legacySignature;
        try
        {
            legacySignature = Convert.ToBase64String(signer.Sign(Encoding.UTF8.GetBytes(HashChain.CheckpointStatement(_last, linkHex))));
        }
        finally
        {
            key.Key.CryptoProviderFactory.ReleaseSignatureProvider(signer);
        }
        _unappended = new ChainCheckpointed(_last, linkHex, key.KeyId, legacySignature, _sinceCheckpoint, now, root, jws);
        Volatile.Write(ref _witnessed, _last);
        _pending = new LeafBuffer();
        _sinceCheckpoint = 0;
        _lastCheckpoint = now;
        await AppendCheckpointAsync();
    }

    /// <summary>
    /// Not cancellable: once witnessed, a checkpoint must reach the ledger, or verify would rightly
    /// report a witnessed checkpoint missing from it. A failure keeps it for the next pass.
    /// </summary>
    private async Task AppendCheckpointAsync()
    {
        await using var session = store.LightweightSession();
        session.Events.Append(CheckpointStream, _unappended!);
        await session.SaveChangesAsync(CancellationToken.None);
        _unappended = null;
    }
}
