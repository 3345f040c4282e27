using System.Diagnostics;
using System.Globalization;

namespace GovernanceLedger.Benchmarks.DataPlane;

/// <summary>
/// CPU time from /proc: user plus system time of one process, or of every PostgreSQL process together
/// (the postmaster's reaped-children time included, so backends that came and went still count).
/// </summary>
public static class ProcessCpu
{
    private static readonly double MicrosecondsPerTick = 1_000_000.0 / ClockTicksPerSecond();

    /// <summary>CPU microseconds one process has used so far.</summary>
    public static double Of(int pid) => Read(pid, includeChildren: false) ?? 0;

    /// <summary>The CPU of every process named "postgres" now, and of those the postmaster has reaped.</summary>
    public static PostgresCpu OfPostgres()
    {
        var live = new Dictionary<int, double>();
        double reaped = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string stat;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() != "postgres") continue;
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            var own = ReadStat(stat, includeChildren: false);
            live[pid] = own;
            reaped += ReadStat(stat, includeChildren: true) - own;
        }
        return new PostgresCpu(live, reaped);
    }

    /// <summary>CPU microseconds the process's background JIT thread (".NET Tiered Compilation") has used so far.</summary>
    public static double OfJit(int pid) => JitThreads(pid).Sum(t => t.Cpu);

    /// <summary>The process's background JIT threads now: the runtime ends an idle one and starts another when code gets hot again.</summary>
    private static List<(string Tid, double Cpu)> JitThreads(int pid)
    {
        var threads = new List<(string, double)>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    if (!File.ReadAllText(Path.Combine(task, "comm")).StartsWith(".NET Tiered Com", StringComparison.Ordinal)) continue;
                    threads.Add((Path.GetFileName(task), ReadStat(File.ReadAllText(Path.Combine(task, "stat")), includeChildren: false)));
                }
                catch (IOException) { }
            }
        }
        catch (IOException) { }
        return threads;
    }

    /// <summary>
    /// Runs the load in slices until the host's background JIT has gone quiet (under 2% of a core) in two slices running,
    /// at most <paramref name="limit"/>: a freshly started host spends much of its CPU tiering up hot code, which is not its
    /// steady state. A slice in which a JIT thread ended or started is never quiet: an ended thread takes its CPU time with
    /// it, and a slice would look quiet while the host was still compiling.
    /// </summary>
    public static async Task<TimeSpan> WarmUntilJitSettlesAsync(int pid, Func<TimeSpan, Task> load, TimeSpan limit)
    {
        var slice = TimeSpan.FromSeconds(3);
        var started = Stopwatch.StartNew();
        var quiet = 0;
        while (started.Elapsed < limit && quiet < 2)
        {
            var before = JitThreads(pid);
            await load(slice);
            var after = JitThreads(pid);
            var sameThreads = before.Select(t => t.Tid).SequenceEqual(after.Select(t => t.Tid));
            quiet = sameThreads && (after.Sum(t => t.Cpu) - before.Sum(t => t.Cpu)) / 1000 < slice.TotalMilliseconds * 0.02 ? quiet + 1 : 0;
        }
        return started.Elapsed;
    }

    /// <summary>
    /// Waits until the host and PostgreSQL together use under a tenth of a core (in half-second samples), at most
    /// <paramref name="limit"/>: work a previous load left behind (the chain, the projections, autovacuum) would
    /// otherwise be counted against the next measurement. Returns how long it waited.
    /// </summary>
    public static async Task<TimeSpan> WaitUntilQuietAsync(int hostPid, TimeSpan limit)
    {
        var sample = TimeSpan.FromMilliseconds(500);
        var started = Stopwatch.StartNew();
        while (started.Elapsed < limit)
        {
            var (host, postgres) = (Of(hostPid), OfPostgres());
            await Task.Delay(sample);
            if ((Of(hostPid) - host + (OfPostgres() - postgres)) / 1000 < sample.TotalMilliseconds * 0.1) return started.Elapsed;
        }
        Console.WriteLine($"  (the host and PostgreSQL did not go quiet within {limit.TotalSeconds:0} s; measuring anyway)");
        return started.Elapsed;
    }

    /// <summary>Every process named "postgres" now (the postmaster, its backends and workers).</summary>
    public static IReadOnlyList<int> PostgresPids()
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == "postgres") pids.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return pids;
    }

    /// <summary>Pins the processes (all their threads) to the given CPUs with taskset; processes they start later inherit it.</summary>
    public static void Pin(IEnumerable<int> pids, string cpus)
    {
        foreach (var pid in pids)
        {
            using var taskset = Process.Start(new ProcessStartInfo("taskset", ["-a", "-p", "-c", cpus, pid.ToString(CultureInfo.InvariantCulture)])
                { RedirectStandardOutput = true, RedirectStandardError = true })!;
            taskset.StandardOutput.ReadToEnd();
            taskset.StandardError.ReadToEnd();
            taskset.WaitForExit();
        }
    }

    private static double? Read(int pid, bool includeChildren)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException) { return null; }
        return ReadStat(stat, includeChildren);
    }

    private static double ReadStat(string stat, bool includeChildren)
    {
        // The command name is in parentheses and may hold spaces: fields are counted after its closing one.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After the name: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based in proc(5)).
        double Field(int number) => double.Parse(fields[number - 3], CultureInfo.InvariantCulture);
        var ticks = Field(14) + Field(15) + (includeChildren ? Field(16) + Field(17) : 0);
        return ticks * MicrosecondsPerTick;
    }

    private static double ClockTicksPerSecond()
    {
        try
        {
            using var getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true })!;
            var text = getconf.StandardOutput.ReadToEnd().Trim();
            getconf.WaitForExit();
            return double.Parse(text, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or FormatException)
        {
            return 100;   // the Linux default
        }
    }
}

/// <summary>
/// The CPU of every PostgreSQL process at one moment: each live process's own, and what the postmaster's reaped children
/// used. A backend that ends between two snapshots brings its whole life into the reaped figure (a pooled connection
/// closed mid-run, with minutes of work behind it), so the part it had used by the first snapshot is taken off again:
/// the difference is the CPU spent in between.
/// </summary>
public sealed record PostgresCpu(IReadOnlyDictionary<int, double> Live, double Reaped)
{
    /// <summary>The CPU microseconds PostgreSQL spent from <paramref name="before"/> to <paramref name="after"/>.</summary>
    public static double operator -(PostgresCpu after, PostgresCpu before) =>
        after.Live.Sum(p => p.Value - before.Live.GetValueOrDefault(p.Key)) + (after.Reaped - before.Reaped)
        - before.Live.Where(p => !after.Live.ContainsKey(p.Key)).Sum(p => p.Value);
}

/// <summary>CPU used during one measurement, per request served.</summary>
/// <summary>
/// CPU per request over one load: the measured process (the ledger host, or the bare proxy), PostgreSQL, the host's JIT,
/// and this process, which is the load generator and the upstream: the same work per request whichever side it drives,
/// so what it spends more per request on one side is the machine's cost of that side's pace, not of its work.
/// </summary>
public sealed record CpuPerRequest(double HostMicroseconds, double PostgresMicroseconds, double JitMicroseconds = 0, double LoadMicroseconds = 0)
{
    public static async Task<(LoadResult Load, CpuPerRequest Cpu)> MeasureAsync(int hostPid, Func<Task<LoadResult>> run)
    {
        var self = Environment.ProcessId;
        var (host, pg, jit, load0) = (ProcessCpu.Of(hostPid), ProcessCpu.OfPostgres(), ProcessCpu.OfJit(hostPid), ProcessCpu.Of(self));
        var load = await run();
        var requests = Math.Max(1, load.Requests);
        return (load, new CpuPerRequest((ProcessCpu.Of(hostPid) - host) / requests, (ProcessCpu.OfPostgres() - pg) / requests,
            Math.Max(0, ProcessCpu.OfJit(hostPid) - jit) / requests,   // a JIT thread that exited takes its time with it
            hostPid == self ? 0 : (ProcessCpu.Of(self) - load0) / requests));
    }

    public override string ToString() =>
        $"CPU per request: host {HostMicroseconds,7:N0} µs (JIT {JitMicroseconds:N0})   PostgreSQL {PostgresMicroseconds,6:N0} µs";
}
