using Engine.Data;
using Engine.Random;

namespace Engine.Tests;

public sealed class LoaderTests
{
    // ---------------------------------------------------------------- DataLoader

    /// <summary>Sample k is the (2, 2) image filled with k, label 100 + k.</summary>
    static DataLoader Make(int n, int batch, bool shuffle = true, bool dropLast = false, ulong seed = 5)
    {
        var x = new float[n * 4];
        for (int i = 0; i < x.Length; i++) x[i] = i / 4;
        return new DataLoader(Tensor.Wrap(x, n, 1, 2, 2), Enumerable.Range(100, n).ToArray(), batch, shuffle, dropLast, seed);
    }

    [Test]
    public void DataLoader_batch_sizes_with_and_without_drop_last()
    {
        var keep = Make(10, 3).Batches(0).ToList();
        Assert.That(keep.Select(b => b.X.Shape[0]), Is.EqualTo(new[] { 3, 3, 3, 1 }));
        Assert.That(keep[0].X.Shape, Is.EqualTo(new[] { 3, 1, 2, 2 }));
        var drop = Make(10, 3, dropLast: true);
        Assert.That(drop.BatchesPerEpoch, Is.EqualTo(3));
        Assert.That(drop.Batches(0).Select(b => b.Y.Length), Is.EqualTo(new[] { 3, 3, 3 }));
    }

    [Test]
    public void DataLoader_epoch_visits_every_sample_once_with_matching_labels()
    {
        var seen = new List<int>();
        foreach (var (x, y) in Make(17, 4).Batches(3))
        {
            var v = x.ToArray();
            for (int i = 0; i < y.Length; i++)
            {
                int k = (int)v[4 * i];
                Assert.That(v.AsSpan(4 * i, 4).ToArray(), Is.All.EqualTo((float)k));
                Assert.That(y[i], Is.EqualTo(100 + k));
                seen.Add(k);
            }
        }
        Assert.That(seen.Order(), Is.EqualTo(Enumerable.Range(0, 17)));
        Assert.That(seen, Is.Not.EqualTo(Enumerable.Range(0, 17)), "shuffled");
    }

    [Test]
    public void DataLoader_shuffling_is_deterministic_per_seed_and_epoch()
    {
        var a = Make(50, 8, seed: 1);
        var b = Make(50, 8, seed: 1);
        Assert.That(a.Order(0), Is.EqualTo(b.Order(0)));
        Assert.That(a.Order(4), Is.EqualTo(b.Order(4)));
        Assert.That(a.Order(0), Is.Not.EqualTo(a.Order(1)), "each epoch reshuffles");
        Assert.That(Make(50, 8, seed: 2).Order(0), Is.Not.EqualTo(a.Order(0)), "the seed matters");

        // Enumerating yields epoch 0, then epoch 1: the same as asking for them by number (resume).
        var first = a.Select(batch => batch.Y).SelectMany(y => y).ToArray();
        var second = a.Select(batch => batch.Y).SelectMany(y => y).ToArray();
        Assert.That(a.Epoch, Is.EqualTo(2));
        Assert.That(first, Is.EqualTo(b.Order(0).Select(k => 100 + k)));
        Assert.That(second, Is.EqualTo(b.Order(1).Select(k => 100 + k)));
    }

    [Test]
    public void DataLoader_without_shuffle_keeps_order_and_supports_unlabelled_data()
    {
        var x = Toy2D.TwoMoons(5, new Generator(0));
        var loader = new DataLoader(x, null, 2, shuffle: false);
        var batches = loader.Batches(0).ToList();
        Assert.That(batches[1].X.ToArray(), Is.EqualTo(x.ToArray()[4..8]));
        Assert.That(batches[0].Y, Is.Empty);
    }

    [Test]
    public void DataLoader_rejects_mismatched_labels()
    {
        var ex = Assert.Throws<ShapeMismatchException>(() => new DataLoader(Tensor.Zeros([4, 3]), [1, 2, 3], 2));
        Assert.That(ex!.Message, Does.Contain("[4, 3]").And.Contain("3 labels"));
    }

    // ---------------------------------------------------------------- Toy2D

    static (double MeanX, double MeanY, double[] Radius) Stats(Tensor p)
    {
        var v = p.ToArray();
        int n = v.Length / 2;
        var r = new double[n];
        double mx = 0, my = 0;
        for (int i = 0; i < n; i++) { mx += v[2 * i]; my += v[2 * i + 1]; r[i] = Math.Sqrt(v[2 * i] * v[2 * i] + v[2 * i + 1] * v[2 * i + 1]); }
        return (mx / n, my / n, r);
    }

    [TestCase("moons")]
    [TestCase("8gaussians")]
    [TestCase("checkerboard")]
    [TestCase("swissroll")]
    public void Toy2D_shape_and_determinism(string name)
    {
        var a = Toy2D.Sample(name, 257, new Generator(9));
        Assert.That(a.Shape, Is.EqualTo(new[] { 257, 2 }));
        Assert.That(a.AllFinite());
        Assert.That(a.ToArray(), Is.EqualTo(Toy2D.Sample(name, 257, new Generator(9)).ToArray()));
        Assert.That(a.ToArray(), Is.Not.EqualTo(Toy2D.Sample(name, 257, new Generator(10)).ToArray()));
    }

    [Test]
    public void Toy2D_two_moons_statistics_and_labels()
    {
        var (p, labels) = Toy2D.TwoMoonsLabeled(4000, new Generator(1), noise: 0.05f);
        var (mx, my, _) = Stats(p);
        Assert.That(mx, Is.EqualTo(0.5).Within(0.05));                     // outer moon mean x 0, inner 1
        Assert.That(my, Is.EqualTo(0.25).Within(0.05));                    // outer mean 2/π, inner 0.5 − 2/π
        Assert.That(labels.Count(l => l == 1), Is.EqualTo(2000));
        var v = p.ToArray();
        for (int i = 0; i < 4000; i++)
        {
            // Distance from the moon's own centre is about 1.
            double cx = labels[i] == 0 ? 0 : 1, cy = labels[i] == 0 ? 0 : 0.5;
            Assert.That(Math.Sqrt(Math.Pow(v[2 * i] - cx, 2) + Math.Pow(v[2 * i + 1] - cy, 2)), Is.EqualTo(1).Within(0.3));
        }
    }

    [Test]
    public void Toy2D_eight_gaussians_lie_on_the_circle()
    {
        var (mx, my, r) = Stats(Toy2D.EightGaussians(4000, new Generator(2)));
        Assert.That(mx, Is.EqualTo(0).Within(0.15));
        Assert.That(my, Is.EqualTo(0).Within(0.15));
        Assert.That(r.Average(), Is.EqualTo(2.83 + 0.354 * 0.354 / (2 * 2.83)).Within(0.05));
    }

    [Test]
    public void Toy2D_checkerboard_points_fall_on_dark_squares()
    {
        var v = Toy2D.Checkerboard(3000, new Generator(3)).ToArray();
        var cells = new HashSet<(int, int)>();
        for (int i = 0; i < v.Length; i += 2)
        {
            Assert.That(v[i], Is.InRange(-4f, 4f));
            Assert.That(v[i + 1], Is.InRange(-4f, 4f));
            int cx = (int)Math.Floor(v[i] / 2), cy = (int)Math.Floor(v[i + 1] / 2);
            Assert.That((cx + cy) & 1, Is.EqualTo(0), $"point ({v[i]}, {v[i + 1]})");
            cells.Add((cx, cy));
        }
        Assert.That(cells, Has.Count.EqualTo(8), "all 8 dark squares are used");
    }

    [Test]
    public void Toy2D_swiss_roll_radius_follows_the_angle()
    {
        var (_, _, r) = Stats(Toy2D.SwissRoll(4000, new Generator(4), noise: 0f));
        Assert.That(r.Min(), Is.GreaterThanOrEqualTo(1.5 * Math.PI / 5 - 1e-4));
        Assert.That(r.Max(), Is.LessThanOrEqualTo(4.5 * Math.PI / 5 + 1e-4));
        Assert.That(r.Average(), Is.EqualTo(3 * Math.PI / 5).Within(0.1));
        Assert.Throws<ArgumentException>(() => Toy2D.Sample("spiral", 4, new Generator(0)));
    }
}
