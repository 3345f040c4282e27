namespace GovernanceLedger.Audit.Verifying;

/// <summary>Problems found by verify's parallel walks; bounded, since a truncated million would otherwise be a million lines.</summary>
public sealed class ProblemList
{
    public const int Kept = 10_000;
    private readonly List<ChainProblem> _problems = [];
    private int _dropped;

    public void Add(long sequence, string reason, string detail)
    {
        lock (_problems)
        {
            if (_problems.Count < Kept) _problems.Add(new ChainProblem(sequence, reason, detail));
            else _dropped++;
        }
    }

    public int Dropped => _dropped;

    public List<ChainProblem> Snapshot()
    {
        lock (_problems) return [.. _problems];
    }
}
