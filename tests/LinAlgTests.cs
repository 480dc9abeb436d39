namespace Engine.Tests;

public sealed class LinAlgTests
{
    [Test]
    public void Inverse_times_matrix_is_identity_and_log_det_matches_closed_form()
    {
        var a = Tensor.FromArray([4f, 1f, 2f, 0.5f, 3f, -1f, 1f, 2f, 5f], 3, 3);
        var eye = Tensor.MatMul(a, a.Inverse()).ToArray();
        for (int i = 0; i < 9; i++) Assert.That(eye[i], Is.EqualTo(i % 4 == 0 ? 1f : 0f).Within(1e-5f));
        // det = 4(15 + 2) − 1(2.5 + 1) + 2(1 − 3) = 68 − 3.5 − 4 = 60.5
        Assert.That(a.LogAbsDet().Item(), Is.EqualTo(MathF.Log(60.5f)).Within(1e-5f));
        var swapped = Tensor.FromArray([0f, 2f, 3f, 0f], 2, 2);                   // det −6, needs a pivot
        Assert.That(swapped.LogAbsDet().Item(), Is.EqualTo(MathF.Log(6f)).Within(1e-6f));
    }

    [Test]
    public void Triangles_split_a_matrix()
    {
        var a = Tensor.Randn([3, 4], new Random.Generator(1));
        var sum = (a.Tril() + a.Triu(1)).ToArray();
        Assert.That(sum, Is.EqualTo(a.ToArray()));
        Assert.That(Tensor.Eye(3).Tril(-1).ToArray().All(v => v == 0));
    }

    [Test]
    public void Singular_and_non_square_inputs_are_typed_errors()
    {
        var singular = Tensor.FromArray([1f, 2f, 2f, 4f], 2, 2);
        Assert.Throws<SingularMatrixException>(() => singular.Inverse());
        Assert.Throws<SingularMatrixException>(() => singular.LogAbsDet());
        Assert.Throws<ShapeMismatchException>(() => Tensor.Zeros([2, 3]).Inverse());
        Assert.Throws<ShapeMismatchException>(() => Tensor.Zeros([4]).LogAbsDet());
        Assert.Throws<ShapeMismatchException>(() => Tensor.Zeros([3]).Tril());
    }
}
