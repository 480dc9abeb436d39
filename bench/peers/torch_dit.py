# W2 DiT-T/2 (spec: docs/workloads.md) in PyTorch, with the parameter names of the reference DiT implementation
# (x_embedder, pos_embed, t_embedder, y_embedder, blocks.N.attn/mlp/adaLN_modulation, final_layer), so weights
# move to and from the engine's Models.Dit.DiT by name. Attention is written out (softmax(QKᵀ/√d)·V) as in the
# reference implementation of the workloads.
import math, torch, torch.nn as nn, torch.nn.functional as F

def timestep_features(t, dim):
    half = dim // 2
    f = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    a = t[:, None].float() * f[None]
    return torch.cat([a.sin(), a.cos()], 1)

class Mlp(nn.Module):
    def __init__(s, d, hidden):
        super().__init__(); s.fc1 = nn.Linear(d, hidden); s.fc2 = nn.Linear(hidden, d)
    def forward(s, x): return s.fc2(F.gelu(s.fc1(x), approximate="tanh"))

class Attention(nn.Module):
    def __init__(s, d, heads):
        super().__init__(); s.heads = heads; s.qkv = nn.Linear(d, 3 * d); s.proj = nn.Linear(d, d)
    def forward(s, x):
        B, T, D = x.shape
        q, k, v = s.qkv(x).reshape(B, T, 3, s.heads, D // s.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // s.heads), -1) @ v
        return s.proj(a.transpose(1, 2).reshape(B, T, D))

class DiTBlock(nn.Module):
    def __init__(s, d, heads):
        super().__init__()
        s.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6); s.attn = Attention(d, heads)
        s.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6); s.mlp = Mlp(d, 4 * d)
        s.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
    def forward(s, x, c):
        sh1, sc1, g1, sh2, sc2, g2 = s.adaLN_modulation(c).chunk(6, 1)
        x = x + g1[:, None] * s.attn(s.norm1(x) * (1 + sc1[:, None]) + sh1[:, None])
        return x + g2[:, None] * s.mlp(s.norm2(x) * (1 + sc2[:, None]) + sh2[:, None])

class PatchEmbed(nn.Module):
    def __init__(s, p, d): super().__init__(); s.proj = nn.Conv2d(1, d, p, p)
    def forward(s, x): return s.proj(x).flatten(2).transpose(1, 2)   # (B, T, D)

class TEmbedder(nn.Module):
    def __init__(s, d, freq=256):
        super().__init__(); s.freq = freq; s.mlp = nn.Sequential(nn.Linear(freq, d), nn.SiLU(), nn.Linear(d, d))
    def forward(s, t): return s.mlp(timestep_features(t, s.freq))

class YEmbedder(nn.Module):
    def __init__(s, classes, d): super().__init__(); s.embedding_table = nn.Embedding(classes + 1, d)
    def forward(s, y): return s.embedding_table(y)

class FinalLayer(nn.Module):
    def __init__(s, d, p):
        super().__init__()
        s.norm_final = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6); s.linear = nn.Linear(d, p * p)
        s.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
    def forward(s, x, c):
        sh, sc = s.adaLN_modulation(c).chunk(2, 1)
        return s.linear(s.norm_final(x) * (1 + sc[:, None]) + sh[:, None])

class DiT(nn.Module):  # W2: 1x28x28, patch 2 -> 196 tokens, width 256, depth 6, 4 heads, adaLN-Zero
    def __init__(s, p=2, d=256, depth=6, heads=4, classes=10):
        super().__init__(); s.p = p
        s.x_embedder = PatchEmbed(p, d); s.pos_embed = nn.Parameter(torch.zeros(1, (28 // p) ** 2, d))
        s.t_embedder = TEmbedder(d); s.y_embedder = YEmbedder(classes, d)
        s.blocks = nn.ModuleList([DiTBlock(d, heads) for _ in range(depth)])
        s.final_layer = FinalLayer(d, p)
    def forward(s, x, t, y):
        B = x.shape[0]; g = 28 // s.p
        h = s.x_embedder(x) + s.pos_embed                                # (B, T, D)
        c = s.t_embedder(t) + s.y_embedder(y)                            # (B, D)
        for b in s.blocks: h = b(h, c)
        h = s.final_layer(h, c)                                          # (B, T, p*p)
        return h.reshape(B, g, g, s.p, s.p).permute(0, 1, 3, 2, 4).reshape(B, 1, 28, 28)
