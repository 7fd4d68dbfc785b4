#!/usr/bin/env python3
"""ops_parity.py DIR -- PyTorch side of check_ops' parity case.

Reads the raw little-endian float32 inputs that tests/check_ops.c wrote into DIR
(in_<name>.f32), computes each op the way BD3-LM / GPT-2 do in PyTorch (rotate-half RoPE,
the block-diffusion 2L mask, weight-only LayerNorm + adaLN modulate, GELU tanh,
log-softmax with the mask token removed, nn.Linear) and writes out_<name>.f32.
Shapes are fixed here and in check_ops.c (keep them in step).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

D = sys.argv[1]


def rd(name, *shape):
    return torch.from_numpy(np.fromfile(os.path.join(D, "in_%s.f32" % name), dtype="<f4").reshape(shape))


def wr(name, t):
    t.detach().contiguous().numpy().astype("<f4").tofile(os.path.join(D, "out_%s.f32" % name))


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


# RoPE: qkv (T, 3, H, hd), positions 1000..1000+T-1, base 10000
T, H, HD, P0 = 5, 2, 64, 1000
qkv = rd("rope", T, 3, H, HD)
inv_freq = 1.0 / (10000 ** (torch.arange(0, HD, 2).float() / HD))
t = torch.arange(P0, P0 + T).float()
freqs = torch.einsum("i,j->ij", t, inv_freq)
emb = torch.cat((freqs, freqs), dim=-1)
cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
out = qkv.clone()
out[:, 0] = qkv[:, 0] * cos + rotate_half(qkv[:, 0]) * sin
out[:, 1] = qkv[:, 1] * cos + rotate_half(qkv[:, 1]) * sin
wr("rope", out)


# Attention over a fused qkv (T, 3, H, hd) with a boolean mask (True = may attend).
def attend(qkv, mask):
    q, k, v = (qkv[:, i].transpose(0, 1) for i in range(3))  # (H, T, hd)
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask) if hasattr(
        F, "scaled_dot_product_attention") else None
    if o is None:
        s = q @ k.transpose(-1, -2) / (q.shape[-1] ** 0.5)
        s = s.masked_fill(~mask, float("-inf"))
        o = torch.softmax(s, dim=-1) @ v
    return o.transpose(0, 1).reshape(qkv.shape[0], -1)  # (T, H*hd)


def bd3_mask(n, block):  # the x_t (+) x_0 training mask, as in bd3lms
    idx = torch.arange(2 * n)
    q, kv = idx[:, None], idx[None, :]
    q0, k0 = q >= n, kv >= n
    bq = torch.where(q0, (q - n) // block, q // block)
    bk = torch.where(k0, (kv - n) // block, kv // block)
    diag = (bq == bk) & (q0 == k0)
    obc = (bq > bk) & k0 & ~q0
    bc = (bq >= bk) & k0 & q0
    return diag | obc | bc


L, B, AH = 12, 4, 2
qkv = rd("attn", 2 * L, 3, AH, HD)
wr("attn_bd3", attend(qkv, bd3_mask(L, B)))
wr("attn_causal", attend(qkv, torch.ones(2 * L, 2 * L, dtype=torch.bool).tril()))

# Weight-only LayerNorm (fp32) times weight, then adaLN modulate; GPT-2 LayerNorm
LT, C = 3, 96
x, w = rd("ln_x", LT, C), rd("ln_w", C)
shift, scale, b = rd("ln_shift", C), rd("ln_scale", C), rd("ln_b", C)
wr("ln_mod", (F.layer_norm(x.float(), [C]) * w[None, :]) * (1 + scale[None, :]) + shift[None, :])
wr("ln_bias", F.layer_norm(x, [C], w, b, eps=1e-5))

# GELU, tanh approximation
wr("gelu", F.gelu(rd("gelu", 1000), approximate="tanh"))

# log-softmax with the last index (the mask token) removed
R, V = 2, 300
logits = rd("lsm", R, V).clone()
logits[:, V - 1] = float("-inf")
wr("lsm", torch.log_softmax(logits, dim=-1))

# nn.Linear: y = x W^T + b, W (out, in)
M, N, K = 4, 50, 64
wr("linear", F.linear(rd("lin_x", M, K), rd("lin_w", N, K), rd("lin_b", N)))
