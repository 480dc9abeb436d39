using System.Reflection;
using Engine.Random;

namespace Engine.Tests;

/// <summary>Every differentiable op, one fixture: analytic gradients against central differences.</summary>
public sealed class GradCheckTests
{
    public static IEnumerable<GradCase> AllCases() =>
        typeof(GradCases).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.ReturnType == typeof(IEnumerable<GradCase>) && m.GetParameters().Length == 0)
            .SelectMany(m => (IEnumerable<GradCase>)m.Invoke(null, null)!);

    [TestCaseSource(nameof(AllCases))]
    public void Gradient_matches_finite_differences(GradCase c)
    {
        var inputs = c.Inputs(new Generator(7));
        GradCheck.Check(c.F, inputs, c.Eps, c.Atol, c.Rtol, c.Name);
    }
}
