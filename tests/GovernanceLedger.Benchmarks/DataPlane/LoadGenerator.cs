using System.Diagnostics;

namespace GovernanceLedger.Benchmarks.DataPlane;

public sealed record LoadResult(string Name, int Requests, int Errors, double Seconds, double P50Ms, double P99Ms)
{
    public double PerSecond => Requests / Seconds;
    public override string ToString() =>
        $"{Name,-44} {PerSecond,9:N0} req/s   p50 {P50Ms,7:0.000} ms   p99 {P99Ms,7:0.000} ms   errors {Errors}";
}

/// <summary>
/// One load generator for every side of a comparison. Closed loop: N workers back to back, to find
/// saturation. Open loop: requests at a fixed rate, latency measured from when each request was due
/// (so a stalled server cannot hide its queueing), to compare latency at a given load.
/// </summary>
public static class LoadGenerator
{
    public static async Task<LoadResult> ClosedLoopAsync(string name, int workers, TimeSpan duration, Func<Task<bool>> send)
    {
        var latencies = new List<double>[workers];
        var errors = 0;
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = new List<double>(100_000);
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var t = Stopwatch.GetTimestamp();
                var ok = await Try(send);
                mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (!ok) Interlocked.Increment(ref errors);
            }
        })));
        return Summarise(name, latencies.SelectMany(l => l).ToList(), errors, Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    public static async Task<LoadResult> OpenLoopAsync(string name, double ratePerSecond, TimeSpan duration, Func<Task<bool>> send)
    {
        var total = (int)(ratePerSecond * duration.TotalSeconds);
        var latencies = new double[total];
        var errors = 0;
        var interval = Stopwatch.Frequency / ratePerSecond;
        var started = Stopwatch.GetTimestamp();
        var inflight = new List<Task>(total);
        // Every millisecond or so, every request due by then is sent; latency counts from each one's due time. (Spinning
        // until each request's exact moment kept a whole core busy on a two-core machine, taking it from what is measured.)
        for (var i = 0; i < total;)
        {
            var now = Stopwatch.GetTimestamp();
            for (; i < total && started + (long)(i * interval) <= now; i++)
            {
                var due = started + (long)(i * interval);
                var index = i;
                inflight.Add(Task.Run(async () =>
                {
                    var ok = await Try(send);
                    latencies[index] = (Stopwatch.GetTimestamp() - due) * 1000.0 / Stopwatch.Frequency;
                    if (!ok) Interlocked.Increment(ref errors);
                }));
            }
            if (i < total) await Task.Delay(1);
        }
        await Task.WhenAll(inflight);
        return Summarise(name, latencies.ToList(), errors, Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    public static string? FirstError;

    private static async Task<bool> Try(Func<Task<bool>> send)
    {
        try
        {
            return await send();
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            FirstError ??= e.ToString();
            return false;
        }
    }

    private static LoadResult Summarise(string name, List<double> latencies, int errors, double seconds)
    {
        latencies.Sort();
        double At(double q) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        return new LoadResult(name, latencies.Count, errors, seconds, At(0.50), At(0.99));
    }
}
