namespace Engine.Nn;

// Activation functions as layers, so they can sit in a Sequential. Each wraps the tensor op of the same name.

/// <summary>max(x, 0).</summary>
public sealed class Relu : Layer
{
    public override Tensor Forward(Tensor x) => x.Relu();
}

/// <summary>x for x &gt; 0, slope·x otherwise.</summary>
public sealed class LeakyRelu(float slope = 0.01f) : Layer
{
    public float Slope { get; } = slope;
    public override Tensor Forward(Tensor x) => x.LeakyRelu(Slope);
}

/// <summary>x·σ(x), also called swish.</summary>
public sealed class Silu : Layer
{
    public override Tensor Forward(Tensor x) => x.Silu();
}

/// <summary>GELU, exact (x·Φ(x)) or with the tanh approximation.</summary>
public sealed class Gelu(bool tanhApproximation = false) : Layer
{
    public bool TanhApproximation { get; } = tanhApproximation;
    public override Tensor Forward(Tensor x) => x.Gelu(TanhApproximation);
}

/// <summary>Hyperbolic tangent.</summary>
public sealed class Tanh : Layer
{
    public override Tensor Forward(Tensor x) => x.Tanh();
}

/// <summary>Logistic sigmoid 1 / (1 + e^−x).</summary>
public sealed class Sigmoid : Layer
{
    public override Tensor Forward(Tensor x) => x.Sigmoid();
}

/// <summary>log(1 + eˣ), computed stably.</summary>
public sealed class Softplus : Layer
{
    public override Tensor Forward(Tensor x) => x.Softplus();
}
