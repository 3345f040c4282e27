using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace GovernanceLedger.Benchmarks;

public static class Runner
{
    // In-process: the host, PostgreSQL connection pools and generated Wolverine code stay warm across
    // iterations, and every figure in one run comes from the same process on the same database.
    public static async Task Main(string[] args)
    {
        if (args is ["audit", ..])
        {
            var events = args.Length > 1 && int.TryParse(args[1], out var n) ? n : 1_000_000;
            await Audit.AuditScaleBenchmark.RunAsync(events);
            return;
        }
        if (args is ["streaming", ..])
        {
            var rows = args.Length > 1 && int.TryParse(args[1], out var r) ? r : 50_000;
            await Streaming.StreamingBenchmark.RunAsync(rows, produceMessages: 200_000, lagSeconds: 20);
            return;
        }
        if (args is ["expensive", ..])
        {
            var events = args.Length > 1 && int.TryParse(args[1], out var e) ? e : 200_000;
            await Operations.ExpensiveReadsBenchmark.RunAsync(events);
            return;
        }
        if (args is ["detection", ..])
        {
            var apps = args.Length > 1 && int.TryParse(args[1], out var a) ? a : 20;
            await DataPlane.DetectionBenchmark.RunAsync(apps);
            return;
        }
        if (args is ["warehouse", ..])
        {
            var customers = args.Length > 1 && int.TryParse(args[1], out var c) ? c : 1_000_000;
            await Warehouse.WarehouseBenchmark.RunAsync(customers, TimeSpan.FromSeconds(10));
            return;
        }
        if (args is ["scaleout", ..])
        {
            var seconds = args.Length > 1 && int.TryParse(args[1], out var s) ? s : 10;
            await ScaleOut.ScaleOutBenchmark.RunAsync(TimeSpan.FromSeconds(seconds));
            return;
        }
        if (args is ["profile-summary", var speedscope])
        {
            DataPlane.ProfileSummary.Print(speedscope);
            return;
        }
        if (args is ["appendprobe", ..])
        {
            await DataPlane.AppendProbe.RunAsync();
            return;
        }
        if (args is ["bare-yarp", var upstream, var url])
        {
            // The bare proxy as a process of its own, so its CPU is measured apart from the load generator's.
            await using var bare = await DataPlane.BareYarp.StartAsync(upstream, url);
            await Task.Delay(Timeout.Infinite);
            return;
        }
        if (args is ["dataplane", ..])
        {
            var seconds = args.Length > 1 && int.TryParse(args[1], out var s) ? s : 10;
            await DataPlane.DataPlaneBenchmark.RunAsync(TimeSpan.FromSeconds(seconds));
            return;
        }
        var config = ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithIterationCount(8).WithWarmupCount(2))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        var summary = BenchmarkRunner.Run<ControlPlaneBenchmarks>(config, args);
        ThroughputReport.Print(summary);
    }
}
