using Engine.Random;
using Models.Diffusion;

namespace Models.FlowMatching;

/// <summary>
/// A trained image vector field (the UNet-S with averaged weights) as one safetensors file, through
/// <see cref="FamilyCheckpoint"/>: the metadata holds the width, which flow it is (CFM, 1- or 2-rectified),
/// the command and the training time.
/// </summary>
public static class FlowCheckpoint
{
    public const string ModelName = "UNet velocity field";

    public static void Save(string path, UNetVelocityField field, string flow, string command, double seconds) =>
        FamilyCheckpoint.Save(path, field.Net, ModelName, new Dictionary<string, string>
        {
            ["width"] = FamilyCheckpoint.Format(field.Net.Config.BaseChannels),
            ["blocks"] = FamilyCheckpoint.Format(field.Net.Config.ResBlocks),
            ["flow"] = flow,
            ["command"] = command,
            ["training_seconds"] = FamilyCheckpoint.Format(seconds),
        });

    /// <summary>The field saved at <paramref name="path"/> and its metadata; a file of another model is a <see cref="Engine.CorruptFileException"/>.</summary>
    public static (UNetVelocityField Field, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        var content = FamilyCheckpoint.Open(path, ModelName);
        int width = FamilyCheckpoint.Int(path, content, "width", 8, 256);
        int blocks = FamilyCheckpoint.Int(path, content, "blocks", 1, 8);
        var net = new UNet(new UNetConfig(BaseChannels: width, ResBlocks: blocks), new Generator(0));
        FamilyCheckpoint.LoadInto(path, content, net);
        net.Eval();
        return (new UNetVelocityField(net), content.Metadata);
    }
}
