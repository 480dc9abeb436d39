using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>
/// The declared kernel cases (<see cref="KernelCases.Checks"/>): every registered variant that computes a case against
/// the family's reference, and the engine's kernel equal, bit for bit, to the variant the table says it runs.
/// </summary>
public sealed class KernelCaseTests
{
    public static IEnumerable<TestCaseData> Checks() =>
        KernelCases.Checks.Select((c, i) => new TestCaseData(c).SetName($"{c.Family.Name} #{i} {c.Name}"));

    [TestCaseSource(nameof(Checks))]
    public void Every_variant_matches_the_reference(KernelCase c)
    {
        var variants = c.Variants.Skip(1).ToList();
        Assert.That(c.Variants[0], Is.EqualTo("reference"), "the reference comes first");
        foreach (var v in variants)
        {
            var (_, failure) = c.Check(v);
            if (failure is not null) Assert.Fail(failure);
        }
    }

    [TestCaseSource(nameof(Checks))]
    public void The_engine_runs_the_variant_the_table_names(KernelCase c)
    {
        Assert.That(c.Variants, Does.Contain(c.Runs), "the rule picks a variant that computes the case");
        var named = c.Prepare(c.Runs);
        var engine = c.PrepareEngine();
        named.Run();
        engine.Run();
        foreach (var ((name, expected), (_, actual)) in named.Compared.Zip(engine.Compared))
            Assert.That(actual, Is.EqualTo(expected), $"{c} {name}: the engine's kernel is not {c.Runs}");
    }

    [Test]
    public void Each_race_case_names_a_variant_that_computes_it_and_a_work_measure()
    {
        foreach (var c in KernelCases.Races)
        {
            Assert.That(c.Variants, Does.Contain(c.Runs), c.ToString());
            Assert.That(c.Flops > 0 || c.Bytes > 0, c.ToString());
            Assert.That(c.ErrorCase.Variants, Is.EqualTo(c.Variants), $"{c}: its error is measured on a cut with the same variants");
        }
    }

    [Test]
    public void A_wrong_variant_is_caught()
    {
        // A softmax "variant" that skips the normalisation must fail its check: the harness can fail.
        var broken = new KernelFamily<SoftmaxForwardKernel>("softmax-broken",
            [new("reference", Softmax.ForwardReference, IsReference: true), new("exp-only", (o, l, i, x, y) => { for (int j = 0; j < x.Length; j++) y[j] = MathF.Exp(x[j]); })], ["exp-only"]);
        var c = new KernelCase<SoftmaxForwardKernel>(broken, "3×5", [new("x", 15), CaseBuffer.Out("y", 15)], (k, b) => k(3, 5, 1, b[0], b[1]));
        Assert.That(c.Check("exp-only").Failure, Is.Not.Null);
        Assert.That(c.Check("reference").Failure, Is.Null);
    }
}
