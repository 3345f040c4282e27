namespace GovernanceLedger.Infrastructure;

/// <summary>
/// What a pure decision function returns: the events to append, or the problem that stops it.
/// Nothing is appended when there is a problem, so a refused command leaves no trace but its answer.
/// </summary>
public sealed record Decision
{
    private Decision(IReadOnlyList<object> events, Problem? problem)
    {
        Events = events;
        Problem = problem;
    }

    public IReadOnlyList<object> Events { get; }
    public Problem? Problem { get; }
    public bool Succeeded => Problem is null;

    public static Decision Accept(params object[] events) => new(events, null);
    public static Decision Accept(IEnumerable<object> events) => new(events.ToList(), null);
    public static Decision Refuse(Problem problem) => new([], problem);

    public static implicit operator Decision(Problem problem) => Refuse(problem);
}
