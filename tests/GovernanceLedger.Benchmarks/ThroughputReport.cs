using BenchmarkDotNet.Reports;

namespace GovernanceLedger.Benchmarks;

/// <summary>Turns BenchmarkDotNet's mean times into operations per second and ratios to the baseline.</summary>
public static class ThroughputReport
{
    public static void Print(Summary summary)
    {
        var rows = summary.Reports
            .Where(r => r.ResultStatistics is not null)
            .Select(r => (Name: r.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo,
                          Baseline: r.BenchmarkCase.Descriptor.Baseline,
                          PerSecond: 1e9 / r.ResultStatistics!.Mean))
            .ToList();
        var baseline = rows.SingleOrDefault(r => r.Baseline);
        if (baseline.Name is null)
        {
            Console.WriteLine("No baseline result: nothing to compare.");
            return;
        }
        Console.WriteLine();
        Console.WriteLine("Throughput, one writer, measured side by side in this run:");
        foreach (var row in rows)
            Console.WriteLine($"  {row.Name,-55} {row.PerSecond,10:N0} ops/s   ratio to raw append {row.PerSecond / baseline.PerSecond,6:0.000}");
    }
}
