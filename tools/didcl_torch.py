"""didcl_torch: the PyTorch model definitions shared by every Python tool of didcl.

- BD3LM: the BD3-LM DiT ("DDiT") with the published parameter names (spec §2.1, §2.2):
  weight-only LayerNorm (eps 1e-5, fp32), adaLN fed sigma = 0 when time conditioning is
  off, RoPE rotate-half base 10000 on Q and K, GELU (tanh), SUBS output (mask logit -inf).
- Attention masks as explicit boolean tensors [batch, Lq, Lk] (True = may attend):
  the 2L block-diffusion training mask with a per-sample block size, full bidirectional,
  block-causal (what a KV-cached sampler computes).
- GPT2: an autoregressive evaluator with Hugging Face GPT2LMHeadModel tensor names.
- Checkpoint I/O: config.json + model.safetensors (own tiny writer/reader; F32/F16/BF16),
  optionally sharded with model.safetensors.index.json.

Runs on torch 1.13 (CPU, manual softmax attention) and torch 2.x (scaled_dot_product_attention).
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


# ---------------------------------------------------------------- attention masks

def mask_block_diffusion(block_size, L, device=None):
    """2L training mask for x_t (+) x_0 with one block size per sample.

    block_size: int or LongTensor [batch]. Returns bool [batch, 2L, 2L]; query q may attend
    key k iff same half and same block (M_BD), or q in x_t, k in x_0 and block(q) > block(k)
    (M_OBC), or both in x_0 and block(q) >= block(k) (M_BC).
    """
    if not torch.is_tensor(block_size):
        block_size = torch.tensor([int(block_size)], device=device)
    bs = block_size.to(device=device, dtype=torch.long).view(-1, 1)   # [b, 1]
    idx = torch.arange(2 * L, device=device)
    x0 = idx >= L                                                    # [2L]
    blk = (idx % L).view(1, -1) // bs                                # [b, 2L]
    qb, kb = blk[:, :, None], blk[:, None, :]                        # [b, 2L, 1], [b, 1, 2L]
    qx, kx = x0.view(1, -1, 1), x0.view(1, 1, -1)
    same_blk = (qx == kx) & (qb == kb)
    obc = (~qx) & kx & (qb > kb)
    bc = qx & kx & (qb >= kb)
    return same_blk | obc | bc


def mask_full(L, device=None):
    """Full bidirectional attention: bool [1, L, L]."""
    return torch.ones(1, L, L, dtype=torch.bool, device=device)


def mask_block_causal(block_size, L, device=None):
    """Block-causal mask (x_0-x_0 sub-mask): q sees k iff block(q) >= block(k). bool [1, L, L].

    With block_size = L this is full attention (stage-2 global revision)."""
    blk = torch.arange(L, device=device) // int(block_size)
    return (blk[:, None] >= blk[None, :]).unsqueeze(0)


def attention(q, k, v, mask, causal=False):
    """q, k, v: [b, h, s, d]; mask: bool [b or 1, s, s] (True = attend). Returns [b, h, s, d].
    causal=True promises that mask is the plain causal mask (lets SDPA use flash kernels)."""
    m = mask.unsqueeze(1)                                            # [b, 1, s, s]
    if _HAS_SDPA:
        if causal:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    scale = 1.0 / math.sqrt(q.shape[-1])
    att = torch.matmul(q, k.transpose(-2, -1)) * scale
    att = att.masked_fill(~m, float("-inf"))
    att = torch.softmax(att.float(), dim=-1).to(v.dtype)
    return torch.matmul(att, v)


# ---------------------------------------------------------------- BD3-LM DiT

def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(pos, head_dim, base=10000.0):
    """pos: LongTensor [s]. Returns cos, sin [s, head_dim] (angles duplicated [θ, θ])."""
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=pos.device).float() / head_dim))
    ang = pos.float()[:, None] * inv[None, :]
    ang = torch.cat((ang, ang), dim=-1)
    return ang.cos(), ang.sin()


class LayerNorm(nn.Module):
    """Weight-only LayerNorm computed in fp32 (eps 1e-5)."""

    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.dim = dim

    def forward(self, x):
        y = F.layer_norm(x.float(), [self.dim], eps=1e-5)
        return y * self.weight[None, None, :]


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


class TimestepEmbedder(nn.Module):
    """sigma_map: sinusoidal embedding (256, [cos | sin]) -> Linear -> SiLU -> Linear."""

    def __init__(self, cond_dim, freq_dim=256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, cond_dim), nn.SiLU(),
                                 nn.Linear(cond_dim, cond_dim))

    def forward(self, t):
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device).float() / half)
        args = t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class EmbeddingLayer(nn.Module):
    def __init__(self, dim, vocab):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(vocab, dim))
        nn.init.kaiming_uniform_(self.embedding, a=math.sqrt(5))

    def forward(self, x):
        return self.embedding[x]


class DDiTBlock(nn.Module):
    def __init__(self, dim, n_heads, cond_dim, mlp_ratio=4, dropout=0.1):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = LayerNorm(dim)
        self.attn_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.attn_out = nn.Linear(dim, dim, bias=False)
        self.norm2 = LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(approximate="tanh"),
                                 nn.Linear(mlp_ratio * dim, dim))
        self.adaLN_modulation = nn.Linear(cond_dim, 6 * dim)
        nn.init.zeros_(self.adaLN_modulation.weight)
        nn.init.zeros_(self.adaLN_modulation.bias)
        self.dropout = dropout

    def forward(self, x, c, cos, sin, mask):
        b, s, d = x.shape
        h = self.n_heads
        (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp,
         gate_mlp) = self.adaLN_modulation(c)[:, None].chunk(6, dim=2)
        skip = x
        y = modulate(self.norm1(x), shift_msa, scale_msa)
        qkv = self.attn_qkv(y)
        qkv = qkv.view(b, s, 3, h, d // h)
        q, k, v = qkv.unbind(2)                                      # [b, s, h, hd]
        q = q * cos[None, :, None, :].to(q.dtype) + rotate_half(q) * sin[None, :, None, :].to(q.dtype)
        k = k * cos[None, :, None, :].to(k.dtype) + rotate_half(k) * sin[None, :, None, :].to(k.dtype)
        o = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask)
        o = o.transpose(1, 2).reshape(b, s, d)
        x = skip + gate_msa * F.dropout(self.attn_out(o), self.dropout, self.training)
        y = modulate(self.norm2(x), shift_mlp, scale_mlp)
        x = x + gate_mlp * F.dropout(self.mlp(y), self.dropout, self.training)
        return x


class DDitFinalLayer(nn.Module):
    def __init__(self, dim, out, cond_dim):
        super().__init__()
        self.norm_final = LayerNorm(dim)
        self.linear = nn.Linear(dim, out)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.adaLN_modulation = nn.Linear(cond_dim, 2 * dim)
        nn.init.zeros_(self.adaLN_modulation.weight)
        nn.init.zeros_(self.adaLN_modulation.bias)

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c)[:, None].chunk(2, dim=2)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, cd = cfg["hidden_dim"], cfg["cond_dim"]
        self.cfg = cfg
        self.vocab_embed = EmbeddingLayer(d, cfg["vocab_size"])
        self.sigma_map = TimestepEmbedder(cd)
        self.blocks = nn.ModuleList([DDiTBlock(d, cfg["n_heads"], cd, dropout=cfg.get("dropout", 0.1))
                                     for _ in range(cfg["n_blocks"])])
        self.output_layer = DDitFinalLayer(d, cfg["vocab_size"], cd)

    def forward(self, ids, sigma, pos, mask, n_out=None, rows=None):
        """rows (index tensor): logits of those rows only (the output layer runs on them)."""
        x = self.vocab_embed(ids)
        c = F.silu(self.sigma_map(sigma))
        cos, sin = rope_cos_sin(pos, self.cfg["hidden_dim"] // self.cfg["n_heads"])
        for blk in self.blocks:
            x = blk(x, c, cos, sin, mask)
        if n_out is not None:
            x = x[:, :n_out]
        if rows is not None:
            x = x[:, rows]
        return self.output_layer(x, c)


BD3LM_DEFAULTS = {
    "architectures": ["BD3LM"], "model_type": "bd3lm",
    "auto_map": {"AutoConfig": "configuration_bd3lm.BD3LMConfig",
                 "AutoModelForMaskedLM": "modeling_bd3lm.BD3LM"},
    "attn_backend": "sdpa", "block_size": 4, "cond_dim": 128, "cross_attn": True,
    "dropout": 0.1, "hidden_dim": 768, "model_length": 1024, "n_blocks": 12, "n_heads": 12,
    "return_dict": False, "sampling_eps_max": 0.999, "sampling_eps_min": 0.001,
    "time_conditioning": False, "torch_dtype": "float32", "var_min": True, "vocab_size": 50258,
    "adaln": True, "causal": False,
}


class BD3LM(nn.Module):
    """Top-level module: parameters named backbone.* plus sampling_eps_min/max buffers."""

    def __init__(self, cfg):
        super().__init__()
        c = dict(BD3LM_DEFAULTS)
        c.update(cfg)
        c.setdefault("mask_token_id", c["vocab_size"] - 1)
        c.setdefault("eos_token_id", c["vocab_size"] - 2)
        c.setdefault("bos_token_id", c["eos_token_id"])
        self.config = c
        self.backbone = DiT(c)
        self.register_buffer("sampling_eps_min", torch.tensor(float(c["sampling_eps_min"])))
        self.register_buffer("sampling_eps_max", torch.tensor(float(c["sampling_eps_max"])))

    def _sigma(self, b, device, sigma=None):
        if sigma is None or not self.config["time_conditioning"]:
            return torch.zeros(b, device=device)
        return sigma

    def subs(self, logits, xt):
        """SUBS: mask logit -inf, log-softmax (fp32), carry-over one-hot on unmasked tokens."""
        logits = logits.float()
        logits[..., self.config["mask_token_id"]] = float("-inf")
        logp = torch.log_softmax(logits, dim=-1)
        keep = xt != self.config["mask_token_id"]
        if keep.any():
            one = torch.full_like(logp, float("-inf"))
            one.scatter_(-1, xt.unsqueeze(-1), 0.0)
            logp = torch.where(keep.unsqueeze(-1), one, logp)
        return logp

    def forward_train(self, xt, x0, block_size, sigma=None, mask=None):
        """Vectorized training forward: input x_t (+) x_0 [b, 2L] with the 2L mask for a
        per-sample block size (LongTensor [b]); mask may be passed prebuilt (bool [b, 2L, 2L]).
        Returns raw logits of the x_t half [b, L, V]."""
        b, L = xt.shape
        if mask is None:
            mask = mask_block_diffusion(block_size, L, xt.device)
        pos = torch.arange(L, device=xt.device).repeat(2)
        ids = torch.cat([xt, x0], dim=1)
        return self.backbone(ids, self._sigma(b, xt.device, sigma), pos, mask, n_out=L)

    def forward(self, ids, mask=None, sigma=None, pos=None):
        """Plain forward over ids [b, s] with bool mask [b|1, s, s] (default: full).
        Returns raw logits [b, s, V] (apply subs() for SUBS log-probabilities)."""
        b, s = ids.shape
        if mask is None:
            mask = mask_full(s, ids.device)
        if pos is None:
            pos = torch.arange(s, device=ids.device)
        return self.backbone(ids, self._sigma(b, ids.device, sigma), pos, mask)


# ---------------------------------------------------------------- GPT-2 evaluator

GPT2_DEFAULTS = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
    "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "n_ctx": 1024,
    "vocab_size": 50257, "layer_norm_epsilon": 1e-5, "initializer_range": 0.02,
    "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "tie_word_embeddings": True,
    "torch_dtype": "float32", "scale_attn_weights": True,
}


class Conv1D(nn.Module):
    """HF Conv1D: weight [in, out], y = x @ W + b."""

    def __init__(self, nin, nout):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nin, nout) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nout))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], -1)


class GPT2Attention(nn.Module):
    def __init__(self, d, h, p):
        super().__init__()
        self.c_attn = Conv1D(d, 3 * d)
        self.c_proj = Conv1D(d, d)
        self.h, self.p = h, p

    def forward(self, x, mask):
        b, s, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = [t.view(b, s, self.h, d // self.h).transpose(1, 2) for t in (q, k, v)]
        o = attention(q, k, v, mask, causal=True).transpose(1, 2).reshape(b, s, d)
        return F.dropout(self.c_proj(o), self.p, self.training)


class GPT2MLP(nn.Module):
    def __init__(self, d, p):
        super().__init__()
        self.c_fc = Conv1D(d, 4 * d)
        self.c_proj = Conv1D(4 * d, d)
        self.p = p

    def forward(self, x):
        return F.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")), self.p, self.training)


class GPT2Block(nn.Module):
    def __init__(self, d, h, eps, p):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.attn = GPT2Attention(d, h, p)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.mlp = GPT2MLP(d, p)

    def forward(self, x, mask):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["n_embd"]
        self.wte = nn.Embedding(c["vocab_size"], d)
        self.wpe = nn.Embedding(c["n_positions"], d)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)
        self.h = nn.ModuleList([GPT2Block(d, c["n_head"], c["layer_norm_epsilon"], c["resid_pdrop"])
                                for _ in range(c["n_layer"])])
        self.ln_f = nn.LayerNorm(d, eps=c["layer_norm_epsilon"])
        for blk in self.h:   # GPT-2 scaled init of residual projections
            nn.init.normal_(blk.attn.c_proj.weight, std=0.02 / math.sqrt(2 * c["n_layer"]))
            nn.init.normal_(blk.mlp.c_proj.weight, std=0.02 / math.sqrt(2 * c["n_layer"]))
        self.p = c["embd_pdrop"]

    def forward(self, ids):
        b, s = ids.shape
        pos = torch.arange(s, device=ids.device)
        x = F.dropout(self.wte(ids) + self.wpe(pos)[None], self.p, self.training)
        mask = torch.ones(s, s, dtype=torch.bool, device=ids.device).tril().unsqueeze(0)
        for blk in self.h:
            x = blk(x, mask)
        return self.ln_f(x)


class GPT2(nn.Module):
    """GPT2LMHeadModel layout: transformer.* plus lm_head tied to transformer.wte."""

    def __init__(self, cfg):
        super().__init__()
        c = dict(GPT2_DEFAULTS)
        c.update(cfg)
        c["n_ctx"] = c["n_positions"]
        c.setdefault("eos_token_id", c["vocab_size"] - 2)
        c.setdefault("bos_token_id", c["eos_token_id"])
        self.config = c
        self.transformer = GPT2Model(c)

    def forward(self, ids):
        """ids [b, s] -> next-token logits [b, s, V]."""
        return F.linear(self.transformer(ids), self.transformer.wte.weight)


def build_model(cfg):
    if cfg.get("model_type") == "gpt2":
        return GPT2(cfg)
    return BD3LM(cfg)


# ---------------------------------------------------------------- safetensors I/O

_DT = {"F32": (np.float32, torch.float32), "F16": (np.float16, torch.float16),
       "BF16": (None, torch.bfloat16), "I64": (np.int64, torch.int64)}


def _tensor_bytes(t, dtype):
    t = t.detach().cpu()
    if dtype == "BF16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
    return t.to(_DT[dtype][1]).numpy().tobytes()


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """Minimal writer: u64 LE header length, JSON header padded with spaces to a multiple of
    8, then the raw little-endian data of each tensor in header order."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        dt = dtype if t.is_floating_point() else "I64"
        b = _tensor_bytes(t, dt)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Returns {name: float32/int64 tensor}."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n).decode("utf-8"))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        dt = info["dtype"]
        if dt == "BF16":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.int16).copy()).view(torch.bfloat16)
        else:
            t = torch.from_numpy(np.frombuffer(raw, dtype=_DT[dt][0]).copy())
        t = t.reshape(info["shape"])
        out[name] = t.float() if t.is_floating_point() else t
    return out


def export_state(model):
    """Tensors to store: the state_dict with any '_orig_mod.' (torch.compile) stripped. GPT-2's
    lm_head is tied to transformer.wte and not stored (as HF save_pretrained does)."""
    sd = {}
    for k, v in model.state_dict().items():
        k = k.replace("_orig_mod.", "")
        sd[k] = v
    return sd


def save_pretrained(model, outdir, dtype="F32", shard_bytes=0, extra_config=None):
    """Write config.json + model.safetensors (or shards of <= shard_bytes with an index)."""
    os.makedirs(outdir, exist_ok=True)
    for fn in os.listdir(outdir):   # drop weights of an earlier export (shards or not)
        if fn.startswith("model") and (fn.endswith(".safetensors") or fn.endswith(".index.json")):
            os.remove(os.path.join(outdir, fn))
    cfg = dict(model.config)
    if extra_config:
        cfg.update(extra_config)
    cfg["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    if isinstance(model, BD3LM):
        cfg["sampling_eps_min"] = float("%.7g" % float(model.sampling_eps_min))
        cfg["sampling_eps_max"] = float("%.7g" % float(model.sampling_eps_max))
    with open(os.path.join(outdir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    sd = export_state(model)
    esz = {"F32": 4, "F16": 2, "BF16": 2}[dtype]
    total = sum(v.numel() * (esz if v.is_floating_point() else 8) for v in sd.values())
    meta = {"format": "pt"}
    if not shard_bytes or total <= shard_bytes:
        write_safetensors(os.path.join(outdir, "model.safetensors"), sd, dtype, meta)
        return [os.path.join(outdir, "model.safetensors")]
    shards, cur, cur_b = [], {}, 0
    for k, v in sd.items():
        nb = v.numel() * (esz if v.is_floating_point() else 8)
        if cur and cur_b + nb > shard_bytes:
            shards.append(cur)
            cur, cur_b = {}, 0
        cur[k] = v
        cur_b += nb
    shards.append(cur)
    n = len(shards)
    wmap, files = {}, []
    for i, sh in enumerate(shards):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, n)
        write_safetensors(os.path.join(outdir, fn), sh, dtype, meta)
        files.append(os.path.join(outdir, fn))
        for k in sh:
            wmap[k] = fn
    with open(os.path.join(outdir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, f, indent=2)
        f.write("\n")
    return files


def read_pretrained(indir):
    """(config.json, {name: tensor}) of a model directory: model.safetensors, or the shards
    named by model.safetensors.index.json (save_pretrained's and the Hugging Face layout)."""
    with open(os.path.join(indir, "config.json")) as f:
        cfg = json.load(f)
    idx = os.path.join(indir, "model.safetensors.index.json")
    sd = {}
    if os.path.exists(idx):
        with open(idx) as f:
            for fn in sorted(set(json.load(f)["weight_map"].values())):
                sd.update(read_safetensors(os.path.join(indir, fn)))
    else:
        sd = read_safetensors(os.path.join(indir, "model.safetensors"))
    return cfg, sd


def load_pretrained(indir, map_location="cpu"):
    """Load a model directory written by save_pretrained (or a BD3-LM hub checkpoint)."""
    cfg, sd = read_pretrained(indir)
    cfg.pop("torch_dtype", None)
    model = build_model(cfg)
    sd.pop("lm_head.weight", None)
    sd.pop("backbone.rotary_emb.inv_freq", None)
    model.load_state_dict(sd, strict=True)
    return model.to(map_location)
