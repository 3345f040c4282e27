namespace GovernanceLedger.Infrastructure;

/// <summary>Runs a piece of work one call at a time in this process (a timer's tick and a caller never overlap).</summary>
public sealed class OneAtATime
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> work, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            return await work(ct);
        }
        finally
        {
            _gate.Release();
        }
    }
}
