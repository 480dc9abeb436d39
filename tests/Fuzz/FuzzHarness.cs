using System.Diagnostics;

namespace Engine.Tests.Fuzz;

/// <summary>One generated input: the files written for it, how it was made, and the call that reads them.</summary>
sealed record FuzzCase(string Description, IReadOnlyList<string> Paths, Action Load);

/// <summary>
/// Runs a reader over seeded, mutated inputs and holds it to the engine's contract for hostile files: each case
/// either loads or throws the engine's typed exception, whose message names one of the case's files and says what
/// was wrong. Disallowed: any other exception, a case running longer than <see cref="MaxCaseTime"/>, or more than
/// <see cref="MaxAllocatedBytes"/> allocated by the reading thread for input under 1 MB.
/// <para>
/// The number of cases comes from <c>ENGINE_FUZZ_CASES</c> (each campaign's CI default otherwise) and the base
/// seed from <c>ENGINE_FUZZ_SEED</c>; case <c>i</c> is generated from seed + i, so a failure's case number and
/// seed reproduce it, alone with <c>ENGINE_FUZZ_CASE=i</c>.
/// </para>
/// </summary>
static class FuzzHarness
{
    public const long MaxAllocatedBytes = 256L << 20;
    public static readonly TimeSpan MaxCaseTime = TimeSpan.FromSeconds(5);
    const ulong DefaultSeed = 0x23_0000_0000UL;

    public static int Cases(int ciDefault) =>
        int.TryParse(Environment.GetEnvironmentVariable("ENGINE_FUZZ_CASES"), out int n) && n > 0 ? n : ciDefault;

    public static ulong Seed =>
        ulong.TryParse(Environment.GetEnvironmentVariable("ENGINE_FUZZ_SEED"), out ulong s) ? s : DefaultSeed;

    /// <summary>
    /// Generates and reads <paramref name="cases"/> inputs; <paramref name="allowedOther"/> admits a further typed
    /// exception (its message must still name one of the case's files). Fails the test listing the first disallowed outcomes.
    /// </summary>
    public static void Run(string reader, int cases, Func<Mutator, FuzzCase> make, Func<Exception, bool>? allowedOther = null)
    {
        ulong seed = Seed;
        var failures = new List<string>();
        var rejections = new Dictionary<string, int>();
        int loaded = 0;
        long maxAllocated = 0; int maxAllocatedCase = -1;
        var slowest = TimeSpan.Zero; int slowestCase = -1;
        var total = Stopwatch.StartNew();
        int first = 0;
        if (int.TryParse(Environment.GetEnvironmentVariable("ENGINE_FUZZ_CASE"), out int only) && only >= 0) (first, cases) = (only, only + 1);
        for (int i = first; i < cases && failures.Count < 20; i++)
        {
            var mutator = new Mutator(seed + (ulong)i);
            var c = make(mutator);
            long inputBytes = c.Paths.Where(File.Exists).Sum(p => new FileInfo(p).Length);
            string what = $"case {i} (seed {seed}+{i}): {c.Description}; {string.Join("; ", mutator.Log)}";

            var run = Task.Run(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                var clock = Stopwatch.StartNew();
                Exception? error = null;
                try { c.Load(); }
                catch (Exception e) { error = e; }
                return (Allocated: GC.GetAllocatedBytesForCurrentThread() - before, clock.Elapsed, Error: error);
            });
            if (!run.Wait(MaxCaseTime))
            {
                failures.Add($"{what}: still running after {MaxCaseTime.TotalSeconds} s (hang)");
                break;                                                  // the hung thread cannot be stopped; stop the campaign
            }
            var (allocated, elapsed, error) = run.Result;
            if (allocated > maxAllocated) (maxAllocated, maxAllocatedCase) = (allocated, i);
            if (elapsed > slowest) (slowest, slowestCase) = (elapsed, i);

            if (elapsed > MaxCaseTime)
                failures.Add($"{what}: took {elapsed.TotalSeconds:F1} s");
            if (inputBytes < 1 << 20 && allocated > MaxAllocatedBytes)
                failures.Add($"{what}: allocated {allocated >> 20} MB for {inputBytes} bytes of input");
            if (error is null) { loaded++; continue; }
            string? wrong = Judge(error, c, allowedOther);
            if (wrong is null) rejections[error.GetType().Name] = rejections.GetValueOrDefault(error.GetType().Name) + 1;
            else failures.Add($"{what}: {wrong}");
        }
        TestContext.Progress.WriteLine(
            $"fuzz {reader}: {cases - first} cases in {total.Elapsed.TotalSeconds:F1} s, {loaded} loaded, rejected {string.Join(", ", rejections.Select(kv => $"{kv.Value} as {kv.Key}"))}; " +
            $"most allocated {maxAllocated / 1024.0:F0} KB (case {maxAllocatedCase}), slowest {slowest.TotalMilliseconds:F0} ms (case {slowestCase}), {failures.Count} disallowed");
        Assert.That(failures, Is.Empty, $"{reader}: disallowed outcomes:\n" + string.Join("\n", failures));
    }

    /// <summary>Null when <paramref name="error"/> is an allowed rejection of case <paramref name="c"/>, else what is wrong with it.</summary>
    static string? Judge(Exception error, FuzzCase c, Func<Exception, bool>? allowedOther)
    {
        string described = $"{error.GetType().FullName}: {error.Message}\n{error.StackTrace}";
        if (error is CorruptFileException corrupt)
        {
            if (!c.Paths.Contains(corrupt.Path)) return $"CorruptFileException names '{corrupt.Path}', not one of the case's files: {described}";
            if (error.Message.Length < corrupt.Path.Length + 12) return $"CorruptFileException says too little about what is wrong: {described}";
            return null;
        }
        if (allowedOther is not null && allowedOther(error))
            return c.Paths.Any(p => error.Message.Contains(p)) ? null : $"{error.GetType().Name} does not name the file: {described}";
        return $"disallowed exception {described}";
    }
}
