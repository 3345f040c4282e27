using System.Text.Json.Nodes;

namespace GovernanceLedger.Benchmarks.DataPlane;

/// <summary>
/// The top frames of a dotnet-trace sampled-thread-time trace (speedscope format), by inclusive and by self time. Only
/// samples of threads running managed code count (the CPU_TIME state; UNMANAGED_CODE_TIME is a thread in native code,
/// mostly parked in a wait or a poll), so what remains is where the managed CPU went. Spinning before a wait is CPU and
/// shows as such. Pseudo frames (process, thread, state) are not listed.
/// </summary>
public static class ProfileSummary
{
    private static readonly string[] Parked = ["UNMANAGED_CODE_TIME", "WaitForSocketEvents", "Interop+Sys.Poll"];

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
                if (stack.Count > 0 && at > last && stack.Any(f => frames[f] == "CPU_TIME") && !stack.Any(f => Parked.Any(frames[f].Contains)))
                {
                    var span = at - last;
                    total += span;
                    var leaf = stack.LastOrDefault(f => IsCode(frames[f]), -1);
                    if (leaf >= 0) self[leaf] += span;
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
        foreach (var i in Enumerable.Range(0, frames.Length).Where(i => IsCode(frames[i])).OrderByDescending(i => inclusive[i]).Take(top))
            Console.WriteLine($"    {inclusive[i] / total,6:P1}  {Short(frames[i])}");
        Console.WriteLine("  top frames by self share:");
        foreach (var i in Enumerable.Range(0, frames.Length).Where(i => IsCode(frames[i])).OrderByDescending(i => self[i]).Take(20))
            Console.WriteLine($"    {self[i] / total,6:P1}  {Short(frames[i])}");
    }

    /// <summary>A method ("Module!Type.Method"), not a process, thread, state or unresolved frame.</summary>
    private static bool IsCode(string frame) => frame.Contains('!') && frame != "?!?";

    private static string Short(string frame) => frame.Length <= 140 ? frame : frame[..140] + "…";
}
