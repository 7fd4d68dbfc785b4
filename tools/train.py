#!/usr/bin/env python3
"""didcl training tool: BD3-LM (vectorized mixed-scale block diffusion) or a GPT-2 evaluator.

Data: UTF-8 text files (documents separated by a line `<|endoftext|>`; .xz accepted) are
tokenized once into uint16 .bin caches (documents joined with EOS); .bin files are used as
they are. Training chunks of model_length tokens are cut at random offsets of the token
stream; with --chunk-bos (default) each chunk starts with BOS, which is never masked.

BD3-LM: each sample of a batch draws its own block size from --block-mix; the batch runs as
one x_t (+) x_0 forward through the 2L mask with a per-sample block size. Per block
t ~ U[eps_min, eps_max] (antithetic), each token masked with probability t, loss
-(1/t) log p(x0 | xt) on masked tokens, mean over tokens (NELBO, nats/token).

  python3 tools/train.py --arch bd3lm --tokenizer models/tokenizer.json \
      --train corpus/train_0*.txt --valid corpus/valid.txt --out run/default ...
  python3 tools/train.py --prepare-only ...    (tokenize only; needs neither torch nor numpy)
  torchrun --standalone --nproc_per_node 8 tools/train.py ...   (DDP; docs/training.md)

Under torchrun --batch stays the global batch: every rank draws the whole step's batch
(offsets, block sizes, noise) from the same generator and trains on its slice, in forwards
of --micro-batch sequences (gradient accumulation), so the loss curve is that of one process
(up to float summation order); validation, checkpoints and export are rank 0's, and a
checkpoint resumes on any number of ranks. --init DIR fine-tunes a BD3-LM / MDLM directory.

Export: EMA weights as config.json + model.safetensors (shards with --shard-mb) in
<out>/export, tokenizer.json copied beside.
"""
import argparse
import array
import glob
import hashlib
import json
import lzma
import math
import os
import shutil
import socket
import sys
import time

EOT = "<|endoftext|>"


# ------------------------------------------------------------------ tokenization (no torch)

class ByteTok:
    """Fallback tokenizer for tests: ids = UTF-8 bytes, eos = 256, mask = 257."""
    vocab_size = 258
    eos_id = 256

    def encode_docs(self, docs):
        return [list(d.encode("utf-8")) for d in docs]


class HFTok:
    def __init__(self, path):
        from tokenizers import Tokenizer
        self.t = Tokenizer.from_file(path)
        self.vocab_size = self.t.get_vocab_size()
        eos = self.t.token_to_id(EOT)
        self.eos_id = self.vocab_size - 2 if eos is None else eos

    def encode_docs(self, docs):
        return [e.ids for e in self.t.encode_batch(docs, add_special_tokens=False)]


def load_tok(spec):
    return ByteTok() if spec == "bytes" else HFTok(spec)


def tok_vocab_size(spec):
    """Vocabulary size from tokenizer.json alone (no `tokenizers` needed)."""
    if spec == "bytes":
        return ByteTok.vocab_size
    with open(spec, encoding="utf-8") as f:
        j = json.load(f)
    ids = list(j["model"]["vocab"].values()) + [t["id"] for t in j.get("added_tokens", [])]
    return max(ids) + 1


MASK_NAMES = ("[MASK]", "<|mask|>", "<mask>")


def tok_specials(spec):
    """(ids in the tokenizer, EOS id, [MASK] id or None) from tokenizer.json alone. didcl's
    tokenizers carry EOS at vocab-2 and [MASK] at vocab-1; GPT-2's tokenizer.json (50257 ids,
    EOS 50256) has no [MASK]: the model then gets one more id, the mask (50257), as BD3-LM."""
    if spec == "bytes":
        return ByteTok.vocab_size, ByteTok.eos_id, ByteTok.vocab_size - 1
    with open(spec, encoding="utf-8") as f:
        j = json.load(f)
    n = tok_vocab_size(spec)
    eos, mask = n - 2, None
    for t in j.get("added_tokens", []):
        if t["content"] == EOT:
            eos = t["id"]
        elif t["content"] in MASK_NAMES:
            mask = t["id"]
    if mask is None and j["model"]["vocab"].get(EOT) is not None:
        eos = j["model"]["vocab"][EOT]
    return n, eos, mask


def tok_tag(spec):
    if spec == "bytes":
        return "bytes"
    with open(spec, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:10]


def read_docs(path):
    op = lzma.open if path.endswith(".xz") else open
    with op(path, "rt", encoding="utf-8") as f:
        doc = []
        for line in f:
            if line.rstrip("\n") == EOT:
                if doc:
                    yield "".join(doc)
                doc = []
            else:
                doc.append(line)
        if doc:
            yield "".join(doc)


def prepare(paths, tok_spec, cache_dir, log=print):
    """Tokenize each text file once into cache_dir/<name>.<tok>.bin (uint16); returns the
    list of .bin paths (given .bin files are passed through)."""
    out, tok = [], None
    tag = tok_tag(tok_spec)
    for p in paths:
        if p.endswith(".bin"):
            out.append(p)
            continue
        name = os.path.basename(p).replace(".xz", "")
        dst = os.path.join(cache_dir, "%s.%s.bin" % (name, tag))
        if not os.path.exists(dst):
            os.makedirs(cache_dir, exist_ok=True)
            tok = tok or load_tok(tok_spec)
            if tok.vocab_size > 65536:
                sys.exit("train: vocab %d does not fit uint16" % tok.vocab_size)
            eos = tok.eos_id
            t0, n = time.time(), 0
            tmp = "%s.tmp.%s.%d" % (dst, socket.gethostname(), os.getpid())
            with open(tmp, "wb") as f:
                batch = []
                for d in list(read_docs(p)) + [None]:
                    if d is not None:
                        batch.append(d)
                    if batch and (d is None or len(batch) == 64):
                        arr = array.array("H")
                        for ids in tok.encode_docs(batch):
                            arr.extend(ids)
                            arr.append(eos)
                        arr.tofile(f)
                        n += len(arr)
                        batch = []
            os.replace(tmp, dst)
            log("tokenized %s: %d tokens in %.1fs -> %s" % (p, n, time.time() - t0, dst))
        out.append(dst)
    return out


# ------------------------------------------------------------------ training

# --block-mix presets. "did": Diffusion-in-Diffusion's mixed-scale fine-tuning draws each
# sequence's block size from the drafting size 4 and the global size L (DESIGN.md §1: "4 for
# most, L for some"); the paper's exact probabilities are not in our sources (spec §5 Q2), so
# 0.7 / 0.3 is this project's choice. "default": the mix of models/default (adds 16, which
# the evaluation reports). "bd3lm": BD3-LM's own fine-tune at one block size (4).
BLOCK_MIX_PRESETS = {"did": "4:0.7,L:0.3", "default": "4:0.6,16:0.1,L:0.3", "bd3lm": "4:1"}


def parse_mix(s, L):
    s = BLOCK_MIX_PRESETS.get(s, s)
    sizes, probs = [], []
    for part in s.split(","):
        b, p = part.split(":")
        b = L if b.strip() in ("L", "l") else int(b)
        if b <= 0 or L % b:
            sys.exit("train: --block-mix: block size %d must divide model_length %d" % (b, L))
        sizes.append(b)
        probs.append(float(p))
    tot = sum(probs)
    return sizes, [p / tot for p in probs]


def main():
    ap = argparse.ArgumentParser(description="didcl training tool (BD3-LM mixed-scale / GPT-2)")
    ap.add_argument("--arch", choices=["bd3lm", "gpt2"], default="bd3lm")
    ap.add_argument("--train", nargs="+", required=True, help="text (.txt/.xz) or .bin files")
    ap.add_argument("--valid", nargs="*", default=[])
    ap.add_argument("--tokenizer", default="models/tokenizer.json", help="tokenizer.json or 'bytes'")
    ap.add_argument("--cache-dir", default=None, help="token cache (default: <out>/../data_cache)")
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--out", required=True)
    # model
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--cond-dim", type=int, default=128)
    ap.add_argument("--model-length", type=int, default=0, help="default 512, or that of --init")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--chunk-bos", type=int, default=1, help="start every chunk with BOS (1/0)")
    # diffusion
    ap.add_argument("--block-mix", default="4:0.6,16:0.1,L:0.3",
                    help="SIZE:P,... (L = model_length) or a preset: " + ", ".join(
                        "%s = %s" % kv for kv in BLOCK_MIX_PRESETS.items()))
    ap.add_argument("--block-size", type=int, default=0, help="config block_size (default: first of mix)")
    ap.add_argument("--eps-min", type=float, default=1e-3)
    ap.add_argument("--eps-max", type=float, default=1.0)
    ap.add_argument("--antithetic", type=int, default=1)
    ap.add_argument("--eval-blocks", default="4,16,L")
    # optimisation
    ap.add_argument("--batch", type=int, default=64,
                    help="global batch (sequences per optimizer step, all ranks together)")
    ap.add_argument("--micro-batch", type=int, default=0,
                    help="sequences per forward on one rank (default batch / ranks); smaller "
                    "values accumulate gradients over batch / (ranks * micro-batch) forwards")
    ap.add_argument("--steps", type=int, default=1000, help="max steps (schedule length)")
    ap.add_argument("--time-budget", type=float, default=0, help="stop after this many seconds of training")
    ap.add_argument("--stop-at", type=int, default=0,
                    help="stop (checkpoint and export) after this step; the schedule still spans --steps")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--schedule", choices=["constant", "cosine"], default="cosine")
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--ema", type=float, default=0.9999)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true")
    # bookkeeping
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-batches", type=int, default=8)
    ap.add_argument("--final-eval-batches", type=int, default=32)
    ap.add_argument("--ckpt-every", type=int, default=1000)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default=None, metavar="DIR",
                    help="fine-tune from a BD3-LM / MDLM (Hugging Face layout: config.json + "
                    "safetensors) or a didcl export; the architecture comes from its config.json")
    ap.add_argument("--export-only", action="store_true", help="load <out>/ckpt.pt and export")
    ap.add_argument("--export-dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--shard-mb", type=float, default=0)
    ap.add_argument("--verify-export", action="store_true")
    a = ap.parse_args()

    # torchrun sets WORLD_SIZE / RANK / LOCAL_RANK: then torch.distributed and DDP, even on
    # one rank (the same code path as on N); a plain run is rank 0 of 1 without them
    D = Dist()
    if D.launched and not a.prepare_only:
        D.init(a.device)
    os.makedirs(a.out, exist_ok=True)
    cache = a.cache_dir or os.path.join(os.path.dirname(os.path.abspath(a.out)), "data_cache")
    logf = open(os.path.join(a.out, "log.txt"), "a") if D.rank == 0 else None

    def log(msg):
        if logf is None:            # ranks > 0 stay quiet
            return
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    # one tokenizer run per host (local rank 0); the others wait, then find the caches
    if a.prepare_only and D.local_rank != 0:
        return
    if D.local_rank == 0:
        train_bins = prepare(a.train, a.tokenizer, cache, log)
        valid_bins = prepare(a.valid, a.tokenizer, cache, log)
    D.barrier()
    if D.local_rank != 0:
        train_bins = prepare(a.train, a.tokenizer, cache, log)
        valid_bins = prepare(a.valid, a.tokenizer, cache, log)
    if a.prepare_only or (a.export_only and D.rank != 0):
        D.close()
        return
    run(a, train_bins, valid_bins, log, D)
    D.close()


class Dist:
    """torch.distributed under torchrun: NCCL on GPUs, gloo on CPUs. world = 1 without it."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.launched = "WORLD_SIZE" in os.environ and "RANK" in os.environ
        self.dev = None
        self.on = False

    def device(self, spec):
        import torch
        if self.dev is None:
            kind = ("cuda" if torch.cuda.is_available() else "cpu") if spec == "auto" else spec
            if self.launched and kind == "cuda":
                kind = "cuda:%d" % self.local_rank
            self.dev = torch.device(kind)
            if self.dev.type == "cuda":
                torch.cuda.set_device(self.dev)
        return self.dev

    def init(self, spec):
        import torch.distributed as dist
        dev = self.device(spec)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        self.on = True

    def barrier(self):
        if self.on:
            import torch.distributed as dist
            dist.barrier()

    def close(self):
        if self.on:
            import torch.distributed as dist
            dist.destroy_process_group()
            self.on = False


def load_init(path, cfg_over, log):
    """--init DIR: (config, state dict) of a BD3-LM / MDLM checkpoint in the Hugging Face
    layout (config.json + model.safetensors or shards with an index) or a didcl export."""
    import didcl_torch as dt
    icfg, sd = dt.read_pretrained(path)
    mt = icfg.get("model_type", "bd3lm")
    if mt not in ("bd3lm", "mdlm"):
        sys.exit("train: --init %s: model_type %r is neither bd3lm nor mdlm" % (path, mt))
    if icfg.get("time_conditioning"):
        sys.exit("train: --init %s: time_conditioning is true; this trainer feeds sigma = 0" % path)
    cfg = {k: icfg[k] for k in ("n_blocks", "hidden_dim", "n_heads", "cond_dim", "vocab_size",
                                "model_length") if k in icfg}
    w = sd.get("backbone.sigma_map.mlp.0.weight")
    if w is not None:       # the tensors decide (MDLM's config class defaults to 129)
        cfg["cond_dim"] = int(w.shape[0])
    miss = [k for k in ("n_blocks", "hidden_dim", "n_heads", "vocab_size", "cond_dim") if k not in cfg]
    if miss:
        sys.exit("train: --init %s: config.json lacks %s" % (path, ", ".join(miss)))
    cfg.update(cfg_over)
    # the hub files carry RoPE's inv_freq (recomputed here); MDLM has no eps buffers and
    # the trainer's --eps-min/--eps-max replace those of a BD3-LM checkpoint
    sd = {k.replace("_orig_mod.", ""): v for k, v in sd.items()}
    dropped = [k for k in list(sd) if k.endswith("rotary_emb.inv_freq")
               or k in ("sampling_eps_min", "sampling_eps_max")]
    for k in dropped:
        del sd[k]
    log("init from %s (model_type %s, %d tensors; not loaded: %s)" % (
        path, mt, len(sd), ", ".join(dropped) or "-"))
    return cfg, sd


def run(a, train_bins, valid_bins, log, D=None):
    import contextlib
    import numpy as np
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import didcl_torch as dt

    D = D or Dist()
    world, rank = D.world, D.rank
    if D.on:
        import torch.distributed as dist
    torch.manual_seed(a.seed)
    dev = D.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    n_tok, eos, tok_mask = tok_specials(a.tokenizer)
    if tok_mask is not None and tok_mask != n_tok - 1:
        sys.exit("train: the tokenizer's [MASK] must be its last id (%d, not %d)" % (n_tok - 1, tok_mask))
    vocab = n_tok if tok_mask is not None else n_tok + 1
    mask_id = vocab - 1

    # the global batch: --batch sequences per optimizer step over all ranks; rank r takes
    # the r-th contiguous slice of it, in forwards of --micro-batch sequences
    if a.batch % world:
        sys.exit("train: --batch %d is not a multiple of the %d ranks" % (a.batch, world))
    per_rank = a.batch // world
    micro = a.micro_batch or per_rank
    if micro <= 0 or per_rank % micro:
        sys.exit("train: --micro-batch %d does not divide the %d sequences per rank" % (micro, per_rank))
    accum = per_rank // micro
    lo = rank * per_rank

    init_cfg, init_sd = None, None
    if a.init and a.arch == "bd3lm":
        init_cfg, init_sd = load_init(a.init, {}, log)
        if init_cfg["vocab_size"] != vocab:
            sys.exit("train: --init vocab_size %d, but tokenizer %s gives %d (with [MASK])" % (
                init_cfg["vocab_size"], a.tokenizer, vocab))
    elif a.init:
        sys.exit("train: --init is for --arch bd3lm")
    L = a.model_length or (init_cfg or {}).get("model_length", 512)

    def load_stream(bins):
        if not bins:
            return None
        arrs = [np.fromfile(b, dtype=np.uint16) for b in bins]
        return torch.from_numpy(np.concatenate(arrs).astype(np.int64)).to(dev)

    train = load_stream(train_bins)
    valid = load_stream(valid_bins) if valid_bins else None
    log("data: %d train tokens, %d valid tokens, vocab %d, device %s, torch %s" % (
        train.numel(), 0 if valid is None else valid.numel(), vocab, dev, torch.__version__))
    if D.on or accum > 1:
        log("distributed: %d ranks (%s), global batch %d = %d ranks x %d accumulation x %d micro-batch" % (
            world, "nccl" if cuda else ("gloo" if D.on else "-"), a.batch, world, accum, micro))

    body = L - 1 if a.chunk_bos else L          # stream tokens per chunk
    need = body + (1 if a.arch == "gpt2" else 0)
    # one generator, seeded alike on every rank, draws the whole global batch of a step
    # (offsets, block sizes, noise); each rank uses its slice, so the global batch and the
    # loss curve do not depend on the number of ranks or on accumulation
    gen = torch.Generator(device=dev)
    gen.manual_seed(a.seed)

    def chunks(stream, starts):
        x = stream[starts[:, None] + torch.arange(need, device=dev)[None]]
        if a.chunk_bos:
            x = torch.cat([torch.full((x.shape[0], 1), eos, dtype=x.dtype, device=dev), x], 1)
        return x

    # model
    if a.arch == "bd3lm":
        sizes, probs = parse_mix(a.block_mix, L)
        mix = BLOCK_MIX_PRESETS.get(a.block_mix, a.block_mix)
        cfg = {"n_blocks": a.layers, "hidden_dim": a.hidden, "n_heads": a.heads,
               "cond_dim": a.cond_dim, "vocab_size": vocab, "model_length": L,
               "block_size": a.block_size or sizes[0], "dropout": a.dropout,
               "sampling_eps_min": a.eps_min, "sampling_eps_max": a.eps_max, "var_min": False,
               "mask_token_id": mask_id, "bos_token_id": eos, "eos_token_id": eos,
               "didcl_block_mix": mix, "didcl_chunk_bos": bool(a.chunk_bos)}
        if init_cfg:
            cfg.update(init_cfg)
            cfg["model_length"] = L
    else:
        cfg = {"model_type": "gpt2", "n_layer": a.layers, "n_embd": a.hidden, "n_head": a.heads,
               "n_positions": L, "vocab_size": vocab, "resid_pdrop": a.dropout,
               "embd_pdrop": a.dropout, "attn_pdrop": a.dropout,
               "bos_token_id": eos, "eos_token_id": eos, "didcl_chunk_bos": bool(a.chunk_bos)}
    model = dt.build_model(cfg).to(dev)
    if init_sd is not None:
        model.load_state_dict(init_sd, strict=False)
        want = set(k for k in model.state_dict() if k not in ("sampling_eps_min", "sampling_eps_max"))
        got = set(init_sd)
        if want != got:
            sys.exit("train: --init: tensors missing %s, unknown %s" % (
                sorted(want - got)[:8], sorted(got - want)[:8]))
    if world > 1:   # dropout masks differ between ranks (the data draws do not)
        torch.manual_seed(a.seed * 1000003 + rank + 1)
    nparam = sum(p.numel() for p in model.parameters())
    log("model %s: %d parameters, config %s" % (a.arch, nparam, json.dumps(cfg, sort_keys=True)))
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    nodecay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    ema = [p.detach().clone().float() for p in params]
    step, elapsed, tokens = 0, 0.0, 0
    ckpt_path = os.path.join(a.out, "ckpt.pt")
    if (a.resume or a.export_only) and os.path.exists(ckpt_path):
        try:
            ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        except TypeError:   # torch < 1.13.1 has no weights_only
            ck = torch.load(ckpt_path, map_location=dev)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        for e, s in zip(ema, ck["ema"]):
            e.copy_(s)
        step, elapsed, tokens = ck["step"], ck["elapsed"], ck["tokens"]
        gen.set_state(ck["gen"].cpu())
        log("resumed from %s at step %d (%.0fs, %d tokens; written by %d rank(s), now %d)" % (
            ckpt_path, step, elapsed, tokens, ck.get("world", 1), world))
        if ck["args"].get("batch") != a.batch:
            log("note: global batch %s in the checkpoint, %d now" % (ck["args"].get("batch"), a.batch))
    elif a.export_only:
        sys.exit("train: --export-only: %s not found" % ckpt_path)

    # the training forward (compiled with --compile on torch 2.x; the module itself stays
    # uncompiled so checkpoints and exports keep the plain parameter names). Under torchrun
    # it is a DDP module (DDP only hooks forward(), hence the wrapper for forward_train).
    fwd = model.forward_train if a.arch == "bd3lm" else model
    ddp = None
    if D.on and not a.export_only:      # --export-only: rank 0 alone, no collectives
        class TrainForward(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, *args):
                return self.m.forward_train(*args)
        ddp = torch.nn.parallel.DistributedDataParallel(
            TrainForward(model) if a.arch == "bd3lm" else model,
            device_ids=[dev.index] if cuda else None, broadcast_buffers=False)
        fwd = ddp
    if a.compile and hasattr(torch, "compile"):
        fwd = torch.compile(fwd)
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else None

    def noise(b, bsz, eps_min, eps_max, g, antithetic):
        """Per-block t and the move (mask) draw for b samples. bsz: LongTensor [b]."""
        pos = torch.arange(L, device=dev)
        blk = pos[None, :] // bsz[:, None]                             # [b, L]
        if antithetic:
            u = torch.rand((), device=dev, generator=g)
            u = (u + torch.arange(b * L, device=dev).view(b, L).float() / (b * L)) % 1.0
            u = u[:, torch.randperm(L, device=dev, generator=g)]
        else:
            u = torch.rand(b, L, device=dev, generator=g)
        t = eps_min + (eps_max - eps_min) * u.gather(1, blk)           # [b, L] per-token t of its block
        move = torch.rand(b, L, device=dev, generator=g) < t
        if a.chunk_bos:
            move[:, 0] = False
        return t, move

    def bd3_loss(fw, x0, bsz, t, move, reduce=True):
        xt = torch.where(move, torch.full_like(x0, mask_id), x0)
        # built outside the (possibly compiled) forward: inductor in torch 2.11 failed to
        # generate code for the mask fused into SDPA's bf16 conversion
        mask = dt.mask_block_diffusion(bsz, L, dev)
        if amp:
            with amp():
                logits = fw(xt, x0, bsz, None, mask)
        else:
            logits = fw(xt, x0, bsz, None, mask)
        # SUBS: the [MASK] logit is -inf; as mask_id is the last id, drop that column
        logits = logits[..., :mask_id].float()
        nll = F.cross_entropy(logits.reshape(-1, mask_id), x0.reshape(-1), reduction="none").view_as(t)
        per_tok = nll * move.float() / t                               # [b, L]
        ntok = L - 1 if a.chunk_bos else L
        if reduce:
            return per_tok.sum() / (x0.shape[0] * ntok)
        return per_tok.sum(), x0.shape[0] * ntok

    def gpt_loss(fw, x, reduce=True):
        inp, tgt = x[:, :L], x[:, 1:L + 1]
        if amp:
            with amp():
                logits = fw(inp)
        else:
            logits = fw(inp)
        nll = F.cross_entropy(logits.float().reshape(-1, vocab), tgt.reshape(-1), reduction="sum")
        return nll / tgt.numel() if reduce else (nll, tgt.numel())

    def lr_at(step, elapsed):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        if a.schedule == "constant":
            return a.lr
        prog = (step - a.warmup) / max(1, a.steps - a.warmup)
        if a.time_budget:
            prog = max(prog, elapsed / a.time_budget)
        prog = min(1.0, prog)
        return a.lr * (a.min_lr_ratio + (1 - a.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * prog)))

    def swap_ema():
        for p, e in zip(params, ema):
            tmp = p.detach().clone()
            p.data.copy_(e)
            e.copy_(tmp)

    @torch.no_grad()
    def evaluate(nbatches):
        """Validation: nats/token per block size (bd3lm, t ~ U[1e-3, 1]) or AR NLL (gpt2).
        nbatches * batch chunks, in forwards of micro-batch sequences (rank 0 only)."""
        if valid is None:
            return {}
        model.eval()
        g = torch.Generator(device=dev)
        g.manual_seed(1234)
        n_chunks = (valid.numel() - need) // need
        bs = micro
        res = {}
        starts_all = torch.arange(0, min(n_chunks, nbatches * a.batch), device=dev) * need
        if a.arch == "gpt2":
            tot, cnt = 0.0, 0
            for i in range(0, starts_all.numel(), bs):
                s, c = gpt_loss(model, chunks(valid, starts_all[i:i + bs]), reduce=False)
                tot += float(s)
                cnt += c
            res["ar"] = tot / cnt
        else:
            for spec in a.eval_blocks.split(","):
                B = L if spec.strip() in ("L", "l") else int(spec)
                g.manual_seed(1234)
                tot, cnt = 0.0, 0
                for i in range(0, starts_all.numel(), bs):
                    x0 = chunks(valid, starts_all[i:i + bs])
                    bsz = torch.full((x0.shape[0],), B, dtype=torch.long, device=dev)
                    t, move = noise(x0.shape[0], bsz, 1e-3, 1.0, g, True)
                    s, c = bd3_loss(model.forward_train, x0, bsz, t, move, reduce=False)
                    tot += float(s)
                    cnt += c
                res[str(B)] = tot / cnt
        model.train()
        return res

    def fmt_eval(res):
        return ", ".join("%s: %.4f nats/tok (%.3f bits, ppl<=%.2f)" % (
            k if a.arch == "gpt2" else "B=" + k, v, v / math.log(2), math.exp(v)) for k, v in res.items())

    jl = open(os.path.join(a.out, "log.jsonl"), "a") if rank == 0 else None

    def jlog(d):
        if jl:
            jl.write(json.dumps(d) + "\n")
            jl.flush()

    def save_ckpt():
        """Rank 0 writes; every rank holds the same state (weights, optimizer, EMA, the
        global batch generator), so the checkpoint resumes on any number of ranks."""
        if rank != 0:
            return
        ck = {"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema, "step": step,
              "elapsed": elapsed, "tokens": tokens, "gen": gen.get_state(), "args": vars(a),
              "world": world}
        torch.save(ck, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)

    if a.arch == "bd3lm":
        size_t = torch.tensor(sizes, device=dev)
        prob_t = torch.tensor(probs, device=dev)

    model.train()
    t_start = time.time() - elapsed
    t_log, tok_log = time.time(), 0
    last = min(a.steps, a.stop_at) if a.stop_at else a.steps
    while not a.export_only and step < last and not (a.time_budget and elapsed >= a.time_budget):
        lr = lr_at(step, elapsed)
        for gr in opt.param_groups:
            gr["lr"] = lr
        # the step's global batch, drawn alike on every rank (same order as ever: offsets,
        # block sizes, noise)
        starts = torch.randint(0, train.numel() - need, (a.batch,), device=dev, generator=gen)
        if a.arch == "bd3lm":
            bsz = size_t[torch.multinomial(prob_t, a.batch, replacement=True, generator=gen)]
            t_all, move_all = noise(a.batch, bsz, a.eps_min, a.eps_max, gen, a.antithetic)
        opt.zero_grad(set_to_none=True)
        for k in range(accum):
            sl = slice(lo + k * micro, lo + (k + 1) * micro)
            x = chunks(train, starts[sl])
            # DDP averages the gradients over ranks at the last micro-batch; the micro-batch
            # losses (a mean over its tokens) are divided by accum, so the sum is the mean
            sync = ddp.no_sync() if ddp is not None and k < accum - 1 else contextlib.nullcontext()
            with sync:
                if a.arch == "bd3lm":
                    loss = bd3_loss(fwd, x, bsz[sl], t_all[sl], move_all[sl])
                else:
                    loss = gpt_loss(fwd, x)
                if accum > 1:
                    loss = loss / accum
                loss.backward()
            loss_sum = loss.detach() if k == 0 else loss_sum + loss.detach()
        gnorm = torch.nn.utils.clip_grad_norm_(params, a.grad_clip)
        opt.step()
        step += 1
        d = min(a.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(d).add_(p.detach().float(), alpha=1 - d)
        ntok = a.batch * L
        tokens += ntok
        tok_log += ntok
        elapsed = time.time() - t_start
        if D.on and a.time_budget:      # rank 0's clock drives the schedule and the stop
            el = torch.tensor([elapsed], dtype=torch.float64, device=dev)
            dist.broadcast(el, 0)
            elapsed = float(el)
        if step % a.log_every == 0 or step == 1:
            if D.on:                    # the global batch's loss: mean over ranks
                dist.all_reduce(loss_sum)
                loss_sum = loss_sum / world
            lv = float(loss_sum)
            now = time.time()
            tps = tok_log / max(1e-9, now - t_log)
            t_log, tok_log = now, 0
            log("step %d loss %.4f lr %.2e gnorm %.3f tok/s %.0f tokens %d elapsed %.0fs" % (
                step, lv, lr, float(gnorm), tps, tokens, elapsed))
            jlog({"step": step, "loss": lv, "lr": lr, "gnorm": float(gnorm), "tok_s": tps,
                  "tokens": tokens, "elapsed": elapsed})
            if not math.isfinite(lv):
                sys.exit("train: loss is not finite at step %d" % step)
        if a.eval_every and step % a.eval_every == 0 and rank == 0:
            res = evaluate(a.eval_batches)
            log("eval step %d (raw weights): %s" % (step, fmt_eval(res)))
            jlog({"step": step, "eval": res, "weights": "raw", "tokens": tokens})
        if a.ckpt_every and step % a.ckpt_every == 0:
            save_ckpt()

    if not a.export_only:
        save_ckpt()
        log("training done: %d steps, %d tokens, %.0fs" % (step, tokens, elapsed))
    if rank != 0:       # validation and export: rank 0 only
        return

    # final: EMA weights, eval, export
    swap_ema()
    res = evaluate(a.final_eval_batches)
    log("final eval (EMA weights, step %d): %s" % (step, fmt_eval(res)))
    jlog({"step": step, "eval": res, "weights": "ema", "tokens": tokens, "final": True})
    exp = os.path.join(a.out, "export")
    dtype = {"f32": "F32", "f16": "F16", "bf16": "BF16"}[a.export_dtype]
    files = dt.save_pretrained(model, exp, dtype, int(a.shard_mb * 1e6))
    if a.tokenizer != "bytes":
        shutil.copy(a.tokenizer, os.path.join(exp, "tokenizer.json"))
    summary = {"arch": a.arch, "steps": step, "tokens_seen": tokens, "train_seconds": elapsed,
               "parameters": nparam, "final_eval_nats_per_token": res,
               "world_size": world, "micro_batch": micro, "accumulation": accum,
               "args": vars(a)}
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    log("exported %s (%s)" % (", ".join(files), dtype))
    if a.verify_export:
        model.eval()
        m2 = dt.load_pretrained(exp, map_location=dev).eval()
        g = torch.Generator(device=dev)
        g.manual_seed(7)
        x = chunks(valid if valid is not None else train,
                   torch.randint(0, (valid if valid is not None else train).numel() - need, (2,),
                                 device=dev, generator=g))
        with torch.no_grad():
            if a.arch == "bd3lm":
                xt = x.clone()
                xt[:, 1::3] = mask_id
                ms = dt.mask_block_causal(4, L, dev)
                l1, l2 = model(xt, ms), m2(xt, ms)
            else:
                l1, l2 = model(x[:, :L]), m2(x[:, :L])
        diff = float((l1.float() - l2.float()).abs().max())
        tol = 0.0 if dtype == "F32" else 5e-2 * max(1.0, float(l1.abs().max()))
        log("export check: max |logit diff| %.3g (tolerance %.3g) %s" % (diff, tol, "OK" if diff <= tol else "FAIL"))
        if diff > tol:
            sys.exit(1)


if __name__ == "__main__":
    main()
