namespace Engine.Autograd;

/// <summary>
/// Whether ops record the graph. Off inside <see cref="NoGrad"/> scopes and during backward.
/// Per thread, so a sampling thread does not switch off training on another.
/// </summary>
public static class GradMode
{
    [ThreadStatic] static int disabledDepth;

    public static bool Enabled => disabledDepth == 0;

    /// <summary>Ops inside the scope are not recorded. <c>using (GradMode.NoGrad()) { model.Forward(x); }</c></summary>
    public static IDisposable NoGrad() { disabledDepth++; return new Scope(); }

    sealed class Scope : IDisposable
    {
        bool done;
        public void Dispose() { if (!done) { done = true; disabledDepth--; } }
    }
}
