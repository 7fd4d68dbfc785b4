#!/usr/bin/python3
"""reference.py -- the PyTorch reference that didcl's forward pass is checked against.

Runs on CPU with torch 1.13 (Debian's python3-torch, /usr/bin/python3) or newer, through
the model definitions of tools/didcl_torch.py. Subcommands:

  write  --arch bd3lm|gpt2 --layers N --hidden H --heads A --vocab V --length L
         [--block B] [--cond C] [--time-cond] [--seed S] [--dtype F32|F16|BF16]
         [--shard-bytes N] OUTDIR
      a randomly initialised model in the exact HF layout (config.json +
      model.safetensors). Every parameter is random (adaLN and the output head too, which
      the training init zeroes), so each term of the forward pass shows in the logits.
  logits --model DIR --mode global|block|score|causal [--ids I ...] [--xt ...] [--x0 ...]
         [--block B] [--start S] [--B B] [--sigma X] [--logprobs] [--half-weights]
         [--out FILE]
      logits (or log-probabilities, BD3-LM's [MASK] left out) as raw little-endian float32
      rows to FILE, or as JSON on stdout. Modes:
        global  ids at positions 0..n-1; --block 0 (default) bidirectional, else
                block-causal with that block size (what a KV-cached sampler computes)
        block   the cached block step: ids are the whole visible text [0, start+B); rows
                [start, start+B) of the block-causal forward with block size B (equal to a
                cache built block by block with store-KV; start must be a multiple of B)
        score   the x_t (+) x_0 pass under the 2L mask with block size --block; rows of x_t
        causal  GPT-2, rows predict the next token
      --half-weights rounds the large matrices to IEEE half first (what didcl stores with
      its half option), so engine and reference see the same weights.
  nelbo  --model DIR --x0 I... --block B --mask-file F (--t T | --t-file F)
      the NELBO per token of x0 with a given mask (F: one byte 0/1 per token) and t per
      block (one value, or float32 per block): mean over all tokens of -log p(x0_i)/t on
      masked tokens (SUBS: unmasked tokens cost 0). Prints JSON {"nelbo", "tokens"}.
  mc     --model DIR --x0 I... --block B --samples N [--seed S] [--eps E]
      Monte-Carlo NELBO: per sample and block t ~ U[eps, 1], each token masked with
      probability t. Prints JSON {"nelbo", "se", "samples"}.
  nll    --model DIR --x0 I...
      GPT-2: the exact NLL per token of tokens 1..n-1, windows of the context length
      overlapping by one token (as didcl score). Prints JSON {"nll", "tokens"}.
  bench  --model DIR --mode block|global [--start S] [--B B] [--L L] [--iters N]
         [--torch-device cpu|cuda]
      milliseconds per forward of the reference (JSON): block = a cached block step
      written here in PyTorch (B queries against a random post-RoPE K/V cache of start
      positions; its B rows of logits brought to the host), global = model(ids).
  jobs   FILE.json
      run a JSON list of argument lists (each as for the subcommands above) in one
      process, so tests pay for one torch import.

Texts longer than the context length are scored in consecutive windows of that length.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import didcl_torch as dt  # noqa: E402

_MODELS = {}

BD3_BIG = ("vocab_embed.embedding", "attn_qkv.weight", "attn_out.weight", "mlp.0.weight",
           "mlp.2.weight", "output_layer.linear.weight")  # in blocks.N (not sigma_map.mlp)
GPT2_BIG = ("wte.weight", "wpe.weight", "c_attn.weight", "c_proj.weight", "c_fc.weight")


def ids_arg(v):
    return [int(x) for x in v.replace(",", " ").split()] if isinstance(v, str) else v


# ---------------------------------------------------------------- write

def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if p.dim() == 1 and ("norm" in name or "ln_" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * r)
            elif p.dim() == 1:
                p.copy_(0.1 * r)
            elif "embedding" in name or "wte" in name or "wpe" in name:
                p.copy_(0.5 * r)
            else:
                conv1d = isinstance(model, dt.GPT2)  # Conv1D weights are [in, out]
                fan_in = p.shape[0] if conv1d else p.shape[1]
                amp = 0.5 if "adaLN" in name else 1.0
                p.copy_(amp * r / math.sqrt(fan_in))


def cmd_write(a):
    if a.arch == "bd3lm":
        cfg = {"n_blocks": a.layers, "hidden_dim": a.hidden, "n_heads": a.heads,
               "vocab_size": a.vocab, "model_length": a.length, "block_size": a.block,
               "cond_dim": a.cond, "time_conditioning": bool(a.time_cond)}
    else:
        cfg = {"model_type": "gpt2", "n_layer": a.layers, "n_embd": a.hidden, "n_head": a.heads,
               "vocab_size": a.vocab, "n_positions": a.length}
    torch.manual_seed(a.seed)
    model = dt.build_model(cfg)
    randomize(model, a.seed)
    dt.save_pretrained(model, a.outdir, dtype=a.dtype, shard_bytes=a.shard_bytes)
    print(json.dumps({"written": a.outdir, "parameters": sum(p.numel() for p in model.parameters())}))


# ---------------------------------------------------------------- models

def load(path, half=False):
    key = (os.path.abspath(path), bool(half))
    if key not in _MODELS:
        model = dt.load_pretrained(path).eval()
        if half:
            big = BD3_BIG if isinstance(model, dt.BD3LM) else GPT2_BIG
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name.endswith(big) and "sigma_map" not in name:
                        p.copy_(p.half().float())
        _MODELS[key] = model
    return _MODELS[key]


def mask_logprobs(model, logits):
    logits = logits.float().clone()
    if isinstance(model, dt.BD3LM):
        logits[..., model.config["mask_token_id"]] = float("-inf")
    return torch.log_softmax(logits, dim=-1)


def sigma_of(a, n=1):
    return torch.full((n,), float(a.sigma)) if a.sigma is not None else None


def forward_rows(a):
    model = load(a.model, a.half_weights)
    with torch.no_grad():
        if a.mode == "causal":
            ids = torch.tensor([ids_arg(a.ids)])
            out = model(ids)[0]
        elif a.mode == "global":
            ids = torch.tensor([ids_arg(a.ids)])
            n = ids.shape[1]
            mask = dt.mask_full(n) if a.block in (0, None) or a.block >= n else dt.mask_block_causal(a.block, n)
            out = model(ids, mask=mask, sigma=sigma_of(a))[0]
        elif a.mode == "block":
            ids = torch.tensor([ids_arg(a.ids)])
            n = ids.shape[1]
            if a.start % a.B or a.start + a.B != n:
                raise SystemExit("reference.py: block mode needs start a multiple of B and "
                                 "ids covering exactly [0, start+B)")
            out = model(ids, mask=dt.mask_block_causal(a.B, n), sigma=sigma_of(a))[0][a.start:]
        elif a.mode == "score":
            xt, x0 = torch.tensor([ids_arg(a.xt)]), torch.tensor([ids_arg(a.x0)])
            out = model.forward_train(xt, x0, torch.tensor([a.block]), sigma=sigma_of(a))[0]
        else:
            raise SystemExit("reference.py: unknown mode %s" % a.mode)
    if a.logprobs:
        out = mask_logprobs(model, out)
    return out.float()


def cmd_logits(a):
    out = forward_rows(a)
    if a.out:
        out.numpy().astype("<f4").tofile(a.out)
    else:
        print(json.dumps({"rows": out.shape[0], "vocab": out.shape[1], "data": out.tolist()}))


# ---------------------------------------------------------------- NELBO

def window_nelbo_sum(model, x0, masked, tblock, block, sigma=None):
    """Sum over tokens of x0 (a 1-D LongTensor no longer than the context) of
    -log p(x0_i | x_t) / t_i on masked tokens. masked: bool [n]; tblock: float [blocks]."""
    n = x0.shape[0]
    mid = model.config["mask_token_id"]
    xt = torch.where(masked, torch.full_like(x0, mid), x0)
    sg = None
    if sigma is not None:
        sg = torch.tensor([float(sigma)])
    with torch.no_grad():
        logits = model.forward_train(xt[None], x0[None], torch.tensor([block]), sigma=sg)[0]
    lp = mask_logprobs(model, logits).double()
    tok = lp.gather(-1, x0[:, None])[:, 0]
    t = tblock.double()[torch.arange(n) // block]
    return float((-tok / t)[masked].sum())


def nelbo_fixed(model, x0, masked, tblock, block, sigma=None):
    ctx = model.config["model_length"]
    total = 0.0
    for s in range(0, len(x0), ctx):
        e = min(s + ctx, len(x0))
        nb0 = s // block
        nbl = (e - s + block - 1) // block
        total += window_nelbo_sum(model, x0[s:e], masked[s:e], tblock[nb0:nb0 + nbl], block, sigma)
    return total / len(x0)


def cmd_nelbo(a):
    model = load(a.model, a.half_weights)
    x0 = torch.tensor(ids_arg(a.x0))
    n = x0.shape[0]
    masked = torch.from_numpy(np.fromfile(a.mask_file, dtype=np.uint8)[:n].astype(bool))
    if masked.shape[0] != n:
        raise SystemExit("reference.py: %s holds fewer than %d bytes" % (a.mask_file, n))
    ctx = model.config["model_length"]
    nb = sum((min(s + ctx, n) - s + a.block - 1) // a.block for s in range(0, n, ctx))
    if a.t_file:
        tblock = torch.from_numpy(np.fromfile(a.t_file, dtype="<f4")[:nb].astype(np.float64))
    else:
        tblock = torch.full((nb,), float(a.t), dtype=torch.float64)
    v = nelbo_fixed(model, x0, masked, tblock, a.block, a.sigma)
    print(json.dumps({"nelbo": v, "tokens": n}))


def cmd_mc(a):
    model = load(a.model, a.half_weights)
    x0 = torch.tensor(ids_arg(a.x0))
    n = x0.shape[0]
    ctx = model.config["model_length"]
    nb = sum((min(s + ctx, n) - s + a.block - 1) // a.block for s in range(0, n, ctx))
    # block index of each token, windows restarting their blocks
    bidx, off = [], 0
    for s in range(0, n, ctx):
        e = min(s + ctx, n)
        bidx += [off + (i - s) // a.block for i in range(s, e)]
        off += (e - s + a.block - 1) // a.block
    bidx = torch.tensor(bidx)
    g = torch.Generator().manual_seed(a.seed)
    vals = []
    for _ in range(a.samples):
        tb = a.eps + (1.0 - a.eps) * torch.rand(nb, generator=g, dtype=torch.float64)
        masked = torch.rand(n, generator=g, dtype=torch.float64) < tb[bidx]
        vals.append(nelbo_fixed(model, x0, masked, tb, a.block))
    v = np.array(vals)
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    print(json.dumps({"nelbo": float(v.mean()), "se": se, "samples": len(v)}))


def cmd_nll(a):
    model = load(a.model, a.half_weights)
    ids = torch.tensor(ids_arg(a.x0))
    n, W = ids.shape[0], model.config["n_positions"]
    total, s = 0.0, 0
    with torch.no_grad():
        while s + 1 < n:
            e = min(s + W, n)
            lp = torch.log_softmax(model(ids[s:e][None])[0].double(), dim=-1)
            total -= float(lp[:-1].gather(-1, ids[s + 1:e][:, None]).sum())
            s += W - 1
    print(json.dumps({"nll": total / (n - 1), "tokens": n - 1}))


# ---------------------------------------------------------------- bench

def cached_block_step(model, ids, start, cache, store=False):
    """One cached BD3-LM block step in PyTorch: ids [b, B] at positions [start, start+B)
    attend to cache[l] = (K, V) [b, heads, start, hd] (post-RoPE) and to themselves.
    Returns the logits [b, B, V]; with store, the store-KV pass instead: cache[l] is
    extended by the block and nothing is returned."""
    bb = model.backbone
    dev = ids.device
    x = bb.vocab_embed(ids)
    c = torch.nn.functional.silu(bb.sigma_map(torch.zeros(1, device=dev)))
    B = ids.shape[1]
    cos, sin = dt.rope_cos_sin(torch.arange(start, start + B, device=dev),
                               bb.cfg["hidden_dim"] // bb.cfg["n_heads"])
    for li, blk in enumerate(bb.blocks):
        kc, vc = cache[li]
        b, s, d = x.shape
        h = blk.n_heads
        (sm, cm, gm, s2, c2, g2) = blk.adaLN_modulation(c)[:, None].chunk(6, dim=2)
        y = dt.modulate(blk.norm1(x), sm, cm)
        q, k, v = blk.attn_qkv(y).view(b, s, 3, h, d // h).unbind(2)
        q = q * cos[None, :, None] + dt.rotate_half(q) * sin[None, :, None]
        k = k * cos[None, :, None] + dt.rotate_half(k) * sin[None, :, None]
        kk = torch.cat([kc, k.transpose(1, 2)], dim=2)
        vv = torch.cat([vc, v.transpose(1, 2)], dim=2)
        if store:
            cache[li] = (kk, vv)
            if li == len(bb.blocks) - 1:
                return None  # the last layer's attention output feeds only the logits
        o = dt.attention(q.transpose(1, 2), kk, vv, torch.ones(1, B, kk.shape[2], dtype=torch.bool, device=dev))
        x = x + gm * blk.attn_out(o.transpose(1, 2).reshape(b, s, d))
        y = dt.modulate(blk.norm2(x), s2, c2)
        x = x + g2 * blk.mlp(y)
    return bb.output_layer(x, c)


def cmd_bench(a):
    dev = torch.device(a.torch_device)
    model = load(a.model).to(dev)
    cfg = model.config
    V = cfg["vocab_size"]
    g = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.no_grad():
        if a.mode == "block":
            h, hd = cfg["n_heads"], cfg["hidden_dim"] // cfg["n_heads"]
            cache = [(torch.randn(1, h, a.start, hd, generator=g).to(dev),
                      torch.randn(1, h, a.start, hd, generator=g).to(dev))
                     for _ in range(cfg["n_blocks"])]
            ids = torch.randint(0, V - 1, (1, a.B), generator=g).to(dev)
            # the sampler needs the B rows of logits on the host, as didcl returns them
            fn = lambda: cached_block_step(model, ids, a.start, cache).cpu()  # noqa: E731
        else:
            ids = torch.randint(0, V - 1, (1, a.L), generator=g).to(dev)
            fn = lambda: model(ids)  # noqa: E731
        fn()
        sync()
        t0 = time.perf_counter()
        for _ in range(a.iters):
            fn()
        sync()
        ms = (time.perf_counter() - t0) / a.iters * 1e3
    print(json.dumps({"mode": a.mode, "ms": ms, "iters": a.iters, "threads": torch.get_num_threads(),
                      "device": str(dev), "torch": torch.__version__}))


# ---------------------------------------------------------------- CLI

def parser():
    p = argparse.ArgumentParser(prog="reference.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--arch", choices=["bd3lm", "gpt2"], default="bd3lm")
    w.add_argument("--layers", type=int, default=2)
    w.add_argument("--hidden", type=int, default=64)
    w.add_argument("--heads", type=int, default=4)
    w.add_argument("--vocab", type=int, default=97)
    w.add_argument("--length", type=int, default=32)
    w.add_argument("--block", type=int, default=4)
    w.add_argument("--cond", type=int, default=16)
    w.add_argument("--time-cond", action="store_true")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32")
    w.add_argument("--shard-bytes", type=int, default=0, help="shard the weights (index.json)")
    w.add_argument("outdir")
    for name in ("logits", "nelbo", "mc", "nll", "bench"):
        s = sub.add_parser(name)
        s.add_argument("--model", required=True)
        s.add_argument("--half-weights", action="store_true")
        s.add_argument("--sigma", type=float, default=None)
        s.add_argument("--block", type=int, default=0)
        if name == "logits":
            s.add_argument("--mode", choices=["global", "block", "score", "causal"], required=True)
            s.add_argument("--ids", nargs="+")
            s.add_argument("--xt", nargs="+")
            s.add_argument("--x0", nargs="+")
            s.add_argument("--start", type=int, default=0)
            s.add_argument("--B", type=int, default=4)
            s.add_argument("--logprobs", action="store_true")
            s.add_argument("--out")
        elif name in ("nelbo", "mc", "nll"):
            s.add_argument("--x0", nargs="+", required=True)
            s.add_argument("--mask-file")
            s.add_argument("--t", type=float, default=0.5)
            s.add_argument("--t-file")
            s.add_argument("--samples", type=int, default=100)
            s.add_argument("--seed", type=int, default=0)
            s.add_argument("--eps", type=float, default=1e-3)
        else:
            s.add_argument("--mode", choices=["block", "global"], required=True)
            s.add_argument("--start", type=int, default=1020)
            s.add_argument("--B", type=int, default=4)
            s.add_argument("--L", type=int, default=1024)
            s.add_argument("--iters", type=int, default=3)
            s.add_argument("--torch-device", default="cpu", help="cpu (default) or cuda")
    j = sub.add_parser("jobs")
    j.add_argument("file")
    return p


def run(argv):
    a = parser().parse_args(argv)
    for k in ("ids", "xt", "x0"):
        if getattr(a, k, None) is not None:
            setattr(a, k, ids_arg(" ".join(getattr(a, k))))
    if a.cmd == "jobs":
        with open(a.file) as f:
            for job in json.load(f):
                run([str(x) for x in job])
        return
    {"write": cmd_write, "logits": cmd_logits, "nelbo": cmd_nelbo, "mc": cmd_mc,
     "nll": cmd_nll, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    run(sys.argv[1:])
