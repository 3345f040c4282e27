using System.Collections.Concurrent;
using System.Security.Claims;
using GovernanceLedger.Infrastructure;
using GovernanceLedger.Security;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace GovernanceLedger.Audit;

/// <summary>
/// A verify of a large ledger as a job: POST /audit/verify/jobs starts it and answers 202 at once;
/// GET /audit/verify/jobs/{id} reports how many sequence numbers are walked and, when done, the report.
/// Jobs live in the instance that runs them and are forgotten an hour after they finish (or on restart).
/// At most <see cref="Concurrent"/> run at once and one per person; more get 429 with Retry-After.
/// </summary>
public sealed class VerifyJobs(LedgerVerifier verifier, IHostApplicationLifetime lifetime, TimeProvider clock, ILogger<VerifyJobs> logger)
{
    public const int Concurrent = 1;
    private static readonly TimeSpan KeptFor = TimeSpan.FromHours(1);
    private readonly ConcurrentDictionary<string, Job> _jobs = new();
    private readonly SemaphoreSlim _slots = new(Concurrent, Concurrent);

    public sealed record Job(string Id, string Owner, long From, long To, DateTimeOffset StartedAt, VerifyProgress Progress)
    {
        public Task<VerificationReport>? Run { get; set; }
        public DateTimeOffset? FinishedAt { get; set; }
    }

    public Job? Find(string id) => _jobs.GetValueOrDefault(id);

    /// <summary>Starts a job, or answers why not (another of the caller's is running, or every slot is busy).</summary>
    public (Job? Job, Problem? Busy) Start(string owner, long from, long to)
    {
        Forget();
        if (_jobs.Values.Any(j => j.Owner == owner && j.FinishedAt is null))
            return (null, Busy("one-verify-job-per-person", "Your previous verify job is still running; follow it instead of starting another."));
        if (!_slots.Wait(0))
            return (null, Busy("verify-jobs-busy", $"{Concurrent} verify jobs are running; try again shortly."));
        var job = new Job(Guid.CreateVersion7().ToString("N"), owner, from, to, clock.GetUtcNow(), new VerifyProgress());
        _jobs[job.Id] = job;
        job.Run = Task.Run(async () =>
        {
            try
            {
                return await verifier.VerifyAsync(from, to, lifetime.ApplicationStopping, job.Progress);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Verify job {Job} failed", job.Id);
                throw;
            }
            finally
            {
                job.FinishedAt = clock.GetUtcNow();
                _slots.Release();
            }
        });
        return (job, null);
    }

    private void Forget()
    {
        var now = clock.GetUtcNow();
        foreach (var job in _jobs.Values.Where(j => j.FinishedAt is { } at && now - at > KeptFor).ToList())
            _jobs.TryRemove(job.Id, out _);
    }

    private static Problem Busy(string rule, string detail) =>
        new(StatusCodes.Status429TooManyRequests, "https://governance-ledger.dev/problems/busy", "Too many verify jobs", detail, [new Violation("", rule, detail)]);
}

public static class VerifyJobEndpoints
{
    [WolverinePost("/audit/verify/jobs", OperationId = "startVerifyJob"), Authorize(Policy = AuditSetup.AuditorPolicy)]
    [Tags("Audit")]
    public static IResult Start(long? from, long? to, ClaimsPrincipal user, VerifyJobs jobs, HttpContext context)
    {
        var (job, busy) = jobs.Start(Caller.From(user).Actor, from ?? 1, to ?? long.MaxValue);
        if (busy is not null)
        {
            context.Response.Headers.RetryAfter = "5";
            return busy.ToResult();
        }
        return Results.Accepted($"/audit/verify/jobs/{job!.Id}", View(job));
    }

    [WolverineGet("/audit/verify/jobs/{id}", OperationId = "followVerifyJob"), Authorize(Policy = AuditSetup.AuditorPolicy)]
    [Tags("Audit")]
    public static IResult Follow(string id, VerifyJobs jobs) =>
        jobs.Find(id) is { } job ? Results.Ok(View(job)) : Problem.NotFound($"No verify job '{StrictJson.Bounded(id, 64)}' on this instance (jobs are kept for an hour after they finish).").ToResult();

    private static object View(VerifyJobs.Job job)
    {
        var run = job.Run;
        var status = run is null || !run.IsCompleted ? "running" : run.IsCompletedSuccessfully ? "done" : "failed";
        return new
        {
            job_id = job.Id, status, started_at = job.StartedAt, finished_at = job.FinishedAt,
            total = job.Progress.Total, @checked = job.Progress.Checked(),
            report = status == "done" ? run!.Result : null,
            error = status == "failed" ? "The verify failed; the error is in the service log." : null
        };
    }
}
