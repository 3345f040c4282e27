using System.Text.Json.Nodes;

namespace GovernanceLedger.Benchmarks.DataPlane;

/// <summary>
/// The top frames of a dotnet-trace CPU-sampling trace (speedscope format), by inclusive and by self time. Time a thread
/// spends parked (its top frame a wait, a sleep or the socket event loop's poll) is left out, so what remains is where
/// the CPU went.
/// </summary>
public static class ProfileSummary
{
    private static readonly string[] Parked =
    [
        "Wait", "Sleep", "LowLevelLifoSemaphore", "LowLevelMonitor", "WaitForSocketEvents", "epoll", "Interop+Sys.Poll", "SemaphoreSlim",
        "Monitor.Enter", "ThreadNative", "UNMANAGED_CODE_TIME", "Thread.StartCallback", "PortableThreadPool+GateThread"
    ];

    public static void Print(string speedscopeFile, int top = 25)
    {
        var root = JsonNode.Parse(File.ReadAllText(speedscopeFile))!;
        var frames = root["shared"]!["frames"]!.AsArray().Select(f => f!["name"]!.GetValue<string>()).ToArray();
        var inclusive = new double[frames.Length];
        var self = new double[frames.Length];
        double total = 0;
        foreach (var profile in root["profiles"]!.AsArray())
        {
            if (profile!["type"]?.GetValue<string>() != "evented") continue;
            var stack = new List<int>();
            double last = 0;
            foreach (var e in profile["events"]!.AsArray())
            {
                var at = e!["at"]!.GetValue<double>();
                if (stack.Count > 0 && at > last && !Parked.Any(frames[stack[^1]].Contains))
                {
                    var span = at - last;
                    total += span;
                    self[stack[^1]] += span;
                    foreach (var f in stack.Distinct()) inclusive[f] += span;
                }
                last = at;
                var frame = e["frame"]!.GetValue<int>();
                if (e["type"]!.GetValue<string>() == "O") stack.Add(frame);
                else if (stack.Count > 0) stack.RemoveAt(stack.Count - 1);
            }
        }
        if (total <= 0) { Console.WriteLine("  (the trace holds no running samples)"); return; }
        Console.WriteLine($"  profile: {total:N0} ms of running samples over all threads; top frames by inclusive share:");
        foreach (var i in Enumerable.Range(0, frames.Length).OrderByDescending(i => inclusive[i]).Take(top))
            Console.WriteLine($"    {inclusive[i] / total,6:P1}  {Short(frames[i])}");
        Console.WriteLine("  top frames by self share:");
        foreach (var i in Enumerable.Range(0, frames.Length).OrderByDescending(i => self[i]).Take(15))
            Console.WriteLine($"    {self[i] / total,6:P1}  {Short(frames[i])}");
    }

    private static string Short(string frame) => frame.Length <= 140 ? frame : frame[..140] + "…";
}
