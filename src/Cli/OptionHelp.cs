namespace Cli;

/// <summary>
/// One line of meaning per option, for help. The same name means the same thing in every family; where a command reads
/// it differently (sampling steps rather than training steps) a "command:name" or "command family:name" entry says so.
/// </summary>
public static class OptionHelp
{
    static readonly Dictionary<string, string> Lines = new(StringComparer.Ordinal)
    {
        // shared by every family
        ["data"] = "folder with the Fashion-MNIST IDX files (default: the full set when found, else the embedded part)",
        ["steps"] = "training steps in total (a resumed run continues to it)",
        ["batch"] = "images per training step",
        ["lr"] = "peak learning rate",
        ["seed"] = "random seed (weights, data order, noise)",
        ["out"] = "run folder: checkpoint, loss.csv, loss.png and pictures",
        ["resume"] = "continue the run in --out from its checkpoint, with the settings stored in it",
        ["force"] = "start a new run in --out even though it holds a checkpoint (it is replaced)",
        ["save-every"] = "write the checkpoint every N steps (0: only at the end and on Ctrl+C)",
        ["device"] = "cpu, or gpu / gpu:N / cuda / opencl (default: $ENGINE_DEVICE, else cpu)",
        ["threads"] = "CPU threads to use",
        ["sampler"] = "ddim (deterministic, few steps) or ddpm (ancestral)",
        ["guidance"] = "classifier-free guidance scale (1: no guidance)",
        ["n"] = "images to draw",
        ["checkpoint"] = "checkpoint file to read",
        ["json"] = "print the results as one JSON object",
        ["classifier"] = "the classifier that defines FCD and conditional accuracy",
        ["samples"] = "images FCD compares (generated vs test)",
        ["width"] = "network width (channels of the first level)",
        ["blocks"] = "residual blocks per level",
        ["hidden"] = "hidden units of each layer",
        ["latent"] = "latent dimensions",
        ["unconditional"] = "train without class labels",
        ["per-class"] = "images per class (one row per class)",
        ["eta"] = "DDIM η: 0 deterministic, 1 as noisy as DDPM",
        ["class"] = "draw only this class (0–9)",
        ["shift"] = "timestep shift s: t' = s·t / (1 + (s − 1)·t); s > 1 spends more steps at high noise",
        ["test"] = "test images to measure (0: skip)",
        ["toy"] = "train on a 2D toy set instead of images: moons, 8gaussians, checkerboard or swissroll",
        ["sample-steps"] = "sampling steps for the pictures drawn at the end",
        ["sample-every"] = "draw a sample grid every N steps (0: only at the end)",
        ["eval-samples"] = "samples for FCD and conditional accuracy after training (0: skip)",
        // ddpm / demo
        ["timesteps"] = "T, the number of noising steps",
        ["schedule"] = "noise schedule: linear or cosine",
        ["prediction"] = "what the network predicts: eps (the noise) or v (velocity)",
        ["min-snr"] = "γ of min-SNR-γ loss weighting (0: unweighted)",
        ["warmup"] = "steps of linear learning-rate warm-up",
        ["ema"] = "decay of the weight average used for sampling",
        ["preview"] = "guided samples per class drawn at the end (0: none)",
        ["sampling-steps"] = "DDIM steps for the pictures",
        ["vlb-images"] = "test images for bits/dim (variational bound)",
        ["vlb-timesteps"] = "timesteps of the bound evaluated per image (all when ≥ T)",
        // classifier
        ["epochs"] = "passes over the training set",
        ["dropout"] = "dropout before the last layer",
        // pixelcnn
        ["channels"] = "channels of the gated layers",
        ["layers"] = "gated layers",
        ["kernel"] = "kernel size (odd)",
        ["head"] = "channels of the output head",
        ["test-images"] = "test images for the exact bits/dim after training",
        ["temperature"] = "softmax temperature of sampling",
        ["naive"] = "sample with the full network per pixel (slow; for comparison)",
        ["images"] = "test images to evaluate",
        ["cost-images"] = "images timed to measure the sampling cost",
        // vae
        ["likelihood"] = "decoder likelihood: bernoulli (binarised images) or logistic (8-bit, discretised)",
        ["iwae-images"] = "test images for the ELBO and IWAE bounds after training",
        ["k"] = "importance samples of the IWAE bounds, comma-separated",
        ["pictures"] = "also write reconstructions, interpolations, latent grid and samples to this folder",
        // gan
        ["batch-stats"] = "sample with batch statistics in BatchNorm (as in training)",
        // dit / mmdit
        ["objective"] = "diffusion (ε-prediction, DDIM) or rf (rectified flow, Euler)",
        ["depth"] = "transformer blocks",
        ["heads"] = "attention heads",
        ["patch"] = "patch size in pixels",
        ["prompt"] = "the caption to draw",
        ["prompts"] = "random prompts scored",
        ["score"] = "random prompts scored for prompt following after training (0: skip)",
        ["data-dir"] = "folder with the Fashion-MNIST IDX files, for --data fashion",
        // flows
        ["reflow-steps"] = "steps of the 2-rectified flow trained on the pairs",
        ["pairs"] = "(noise, sample) pairs drawn from the first flow for reflow",
        ["pair-steps"] = "RK4 steps solving the first flow's ODE for the pairs",
        ["method"] = "ODE solver: euler, rk4 or dopri5",
        ["bpd-images"] = "test images for bits/dim through the ODE",
        ["straightness-images"] = "images for the straightness measure",
        // bench / kernels
        ["profile"] = "print the time per op",
        ["max-n"] = "largest matrix size raced",
        ["rules"] = "list the kernel table instead: each family's variants and the rule that picks the one the engine runs",
        // command-specific meanings of shared names
        ["sample:steps"] = "sampling steps",
        ["eval:steps"] = "sampling steps",
        ["eval cfm:steps"] = "Euler steps to measure, comma-separated",
        ["sample:out"] = "PNG file to write",
        ["sample:seed"] = "random seed of the noise",
        ["eval:seed"] = "random seed of the noise",
        ["eval:batch"] = "images sampled at once",
        ["eval:data"] = "folder with the Fashion-MNIST IDX files (test split for FCD; default: full set when found, else embedded)",
        ["demo:out"] = "folder for the pictures, loss curve and checkpoint",
        ["demo:steps"] = "training steps",
        ["train classifier:out"] = "run folder: checkpoint, loss.csv and loss.png",
        ["train classifier:classifier"] = "where the trained classifier is written",
        ["train gan:classifier"] = "classifier for the FCD measured after training",
        ["train mmdit:data"] = "captioned training data: shapes (procedural scenes) or fashion (Fashion-MNIST with class-name captions)",
        ["sample mmdit:n"] = "images to draw for the prompt",
        ["sample vae:n"] = "prior samples to draw",
        ["sample dit:n"] = "images per class",
        ["sample ddpm:n"] = "images per class (or in all, with --class)",
        ["train flow:test"] = "test images for bits/dim after training",
        ["train cfm:test"] = "test images for bits/dim through the ODE after training (0: skip)",
        ["train rectified:test"] = "test images for bits/dim through the ODE after training (0: skip)",
        ["train cfm:guidance"] = "guidance scale of the sample grids",
        ["train rectified:guidance"] = "guidance scale of the sample grids",
        ["eval cfm:samples"] = "images FCD compares (generated vs test)",
    };

    /// <summary>The meaning of <paramref name="option"/> in <paramref name="command"/> ("train ddpm", "sample", …), or null when none is written.</summary>
    public static string? For(string command, string option)
    {
        if (Lines.TryGetValue(command + ":" + option, out var line)) return line;
        int space = command.IndexOf(' ');
        if (space > 0 && Lines.TryGetValue(command[..space] + ":" + option, out line)) return line;
        return Lines.GetValueOrDefault(option);
    }
}
