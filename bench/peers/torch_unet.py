# The W1 UNet-S denoiser of docs/workloads.md in PyTorch, with the engine's parameter names (src/Models/Diffusion/UNet.cs),
# so weights move between the two by name through safetensors.
# Parity fixture (weights, inputs, output, MSE loss against the input, every gradient):
#   OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peers/torch_unet.py export tests/Fixtures/parity [small]
# (`small`: width 16, the committed fixture; seed 0; tests/ParityTests.cs checks the engine against it.)
import math, sys
import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoidal(t, dim):  # (B, dim): dim/2 sines then dim/2 cosines, frequencies exp(-ln(10000)·i/half)
    half = dim // 2
    f = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float64, device=t.device) / half)
    a = t.to(torch.float64)[:, None] * f[None]
    return torch.cat([a.sin(), a.cos()], 1).float()


class TimeEmbed(nn.Module):
    def __init__(self, dim, out):
        super().__init__()
        self.dim, self.linear1, self.linear2 = dim, nn.Linear(dim, out), nn.Linear(out, out)

    def forward(self, t):
        return self.linear2(F.silu(self.linear1(sinusoidal(t, self.dim))))


class ResBlock(nn.Module):
    def __init__(self, ci, co, emb):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, ci), nn.Conv2d(ci, co, 3, padding=1)
        self.time_proj = nn.Linear(emb, co)
        self.norm2, self.conv2 = nn.GroupNorm(8, co), nn.Conv2d(co, co, 3, padding=1)
        self.skip = nn.Conv2d(ci, co, 1) if ci != co else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x))) + self.time_proj(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class AttnBlock(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads, self.norm = heads, nn.GroupNorm(8, c)
        self.qkv, self.proj = nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).permute(1, 0, 2, 4, 3)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // self.heads), -1) @ v   # (B, heads, HW, C/heads)
        return x + self.proj(a.permute(0, 1, 3, 2).reshape(b, c, h, w))


class Level(nn.Module):
    def __init__(self, pairs, emb, attention, resample, heads):
        super().__init__()
        self.res = nn.ModuleList(ResBlock(ci, co, emb) for ci, co in pairs)
        self.attn = nn.ModuleList(AttnBlock(co, heads) for _, co in pairs) if attention else None
        self.resample = resample


class UNet(nn.Module):
    """Resolutions 28, 14, 7 at widths ch, 2ch, 2ch; attention at 7×7; `blocks` residual blocks per level."""

    def __init__(self, ch=32, classes=10, heads=4, blocks=2):
        super().__init__()
        c2, td = 2 * ch, 4 * ch
        lst = lambda first, rest, co: [(first if i == 0 else rest, co) for i in range(blocks)]
        self.time_embed = TimeEmbed(ch, td)
        self.class_embed = nn.Embedding(classes + 1, td)
        self.conv_in = nn.Conv2d(1, ch, 3, padding=1)
        self.down = nn.ModuleList([
            Level(lst(ch, ch, ch), td, False, nn.Conv2d(ch, ch, 3, 2, 1), heads),
            Level(lst(ch, c2, c2), td, False, nn.Conv2d(c2, c2, 3, 2, 1), heads),
            Level(lst(c2, c2, c2), td, True, None, heads)])
        self.mid_res1, self.mid_attn, self.mid_res2 = ResBlock(c2, c2, td), AttnBlock(c2, heads), ResBlock(c2, c2, td)
        self.up = nn.ModuleList([
            Level(lst(2 * c2, 2 * c2, c2), td, True, nn.Conv2d(c2, c2, 3, padding=1), heads),
            Level(lst(2 * c2, 2 * c2, c2), td, False, nn.Conv2d(c2, c2, 3, padding=1), heads),
            Level(lst(c2 + ch, 2 * ch, ch), td, False, None, heads)])
        self.norm_out, self.conv_out = nn.GroupNorm(8, ch), nn.Conv2d(ch, 1, 3, padding=1)

    def forward(self, x, t, y):
        e = self.time_embed(t) + self.class_embed(y)
        h, skips = self.conv_in(x), []
        for level in self.down:
            for i, res in enumerate(level.res):
                h = res(h, e)
                if level.attn is not None: h = level.attn[i](h)
                skips.append(h)
            if level.resample is not None: h = level.resample(h)
        h = self.mid_res2(self.mid_attn(self.mid_res1(h, e)), e)
        for level in self.up:
            for i, res in enumerate(level.res):
                h = res(torch.cat([h, skips.pop()], 1), e)
                if level.attn is not None: h = level.attn[i](h)
            if level.resample is not None: h = level.resample(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def save_file(tensors, path):
    """safetensors without the safetensors package: u64 header length, JSON header, then F32 little-endian data."""
    import json, struct
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data); offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)
    import os; os.replace(path + ".tmp", path)


def export(directory, small):
    torch.manual_seed(0)
    net = UNet(ch=16 if small else 32)
    with torch.no_grad():
        for p in net.parameters(): p.normal_(0, 0.05)
    x, t, y = torch.randn(4, 1, 28, 28), torch.tensor([3, 250, 600, 999]), torch.tensor([0, 4, 9, 10])
    out = net(x, t, y)
    loss = F.mse_loss(out, x)
    loss.backward()
    save_file({n: p.detach().contiguous() for n, p in net.named_parameters()}, f"{directory}/W1.safetensors")
    check = {"input.x": x, "input.t": t.float(), "input.y": y.float(), "output": out.detach(), "loss": loss.detach().reshape(())}
    check.update({"grad." + n: p.grad.contiguous() for n, p in net.named_parameters()})
    save_file(check, f"{directory}/W1.check.safetensors")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "export":
        export(sys.argv[2], len(sys.argv) > 3 and sys.argv[3] == "small")
    else:
        print(__doc__ or "usage: torch_unet.py export DIR [small]")
        sys.exit(2)
