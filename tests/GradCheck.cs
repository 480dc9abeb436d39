using Engine.Random;

namespace Engine.Tests;

/// <summary>
/// Compares the autograd gradient of a function with central differences. The function's output is reduced
/// to a scalar by a fixed random projection, L = Σ w·f(x), accumulated in double; each input element is moved
/// by ±eps and (L₊ − L₋)/2eps is compared with the analytic dL/dx.
/// </summary>
public static class GradCheck
{
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-2, double atol = 2e-3, double rtol = 2e-2, string name = "")
    {
        foreach (var x in inputs) { x.RequiresGrad = true; x.Grad = null; }
        var y = f(inputs);
        var w = Tensor.Randn(y.Shape, new Generator(12345));
        var loss = (y * w).Sum();
        loss.Backward();
        var wv = w.ToArray();

        double Objective()
        {
            using var _ = Autograd.GradMode.NoGrad();
            var v = f(inputs).ToArray();
            double s = 0;
            for (int i = 0; i < v.Length; i++) s += (double)v[i] * wv[i];
            return s;
        }

        for (int t = 0; t < inputs.Length; t++)
        {
            var x = inputs[t];
            var analytic = x.Grad?.ToArray() ?? new float[x.Numel];
            var data = x.Storage.Data;
            if (!x.IsContiguous) throw new InvalidOperationException("GradCheck: inputs must be contiguous");
            for (int i = 0; i < x.Numel; i++)
            {
                float orig = data[x.Offset + i];
                data[x.Offset + i] = (float)(orig + eps);
                double lp = Objective();
                data[x.Offset + i] = (float)(orig - eps);
                double lm = Objective();
                data[x.Offset + i] = orig;
                double numeric = (lp - lm) / (2 * eps);
                double diff = Math.Abs(numeric - analytic[i]);
                if (diff > atol + rtol * Math.Abs(numeric))
                    Assert.Fail($"{name}: input {t} {Shapes.Format(x.Shape)} element {i}: analytic {analytic[i]:G6} vs numeric {numeric:G6}");
            }
        }
    }
}
