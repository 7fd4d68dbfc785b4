#!/usr/bin/env python3
"""bench_torch: the workloads of `didcl bench` (W1, W2, W3) in PyTorch over the published
BD3-LM module layout (tools/didcl_torch.py, loaded from a didcl model directory), for the
side-by-side table of docs/performance.md (tools/bench-side-by-side.sh).

Sampler semantics as didcl's: BOS, then L-1 masks in blocks of 4 left to right; a block
is denoised by first-hitting steps (one masked position drawn uniformly per forward, its
token drawn by nucleus 0.9 from the SUBS probabilities in float64), one cached block step
(reference.cached_block_step, the KV cache grown by torch.cat as the published sampler
does) per NFE and one store-KV pass per finished block but the last.
  W1  one sample
  W2  W1, then a global revision of gamma 0.25: the round(0.25 x generated) positions of
      lowest confidence at commit are remasked and refilled by first-hitting with
      bidirectional forwards over the whole sequence (logits of the drawn row only)
  W3  W1 for 16 samples in one batch (lockstep)

Variants: --dtype fp32 | bf16 (bf16: weights in bf16 under autocast, as the published
module runs), --mode eager | compile (torch.compile of the block step, dynamic shapes;
needs torch >= 2). A variant that does not work on this torch is reported with its
reason, not measured.

  python3 tools/bench_torch.py --model models/default --length 256 --workload W1 --json
"""
import argparse
import contextlib
import json
import math
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import didcl_torch as dt  # noqa: E402
import reference  # noqa: E402

BLOCK = 4
TOP_P = 0.9
WORKLOADS = {"W1": (1, 0.0), "W2": (1, 0.25), "W3": (16, 0.0)}


def nucleus(logits, mask_id, gen):
    """Rows of logits [n, V] -> (tokens [n], probabilities [n]): SUBS (mask excluded),
    float64, the smallest prefix of the sorted probabilities reaching TOP_P."""
    lg = logits.double()
    lg[:, mask_id] = float("-inf")
    pr = torch.softmax(lg, dim=-1)
    sp, si = pr.sort(dim=-1, descending=True)
    keep = (sp.cumsum(-1) - sp) < TOP_P
    sp = sp * keep
    k = torch.multinomial(sp / sp.sum(-1, keepdim=True), 1, generator=gen)
    tok = si.gather(-1, k).squeeze(-1)
    return tok, pr.gather(-1, tok[:, None]).squeeze(-1)


class Runner:
    def __init__(self, model, dev, dtype, mode):
        self.model, self.dev = model, dev
        cfg = model.config
        self.mask_id, self.bos = cfg["mask_token_id"], cfg["bos_token_id"]
        self.layers = cfg["n_blocks"]
        self.heads, self.hd = cfg["n_heads"], cfg["hidden_dim"] // cfg["n_heads"]
        self.autocast = (torch.autocast(device_type=dev.type, dtype=torch.bfloat16)
                         if dtype == "bf16" else contextlib.nullcontext())
        self.step = reference.cached_block_step
        if mode == "compile":
            self.step = torch.compile(reference.cached_block_step, dynamic=True)
        self.sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        self.gen = torch.Generator(device=dev)

    def draft(self, n, L, rng):
        """First-hitting draft of n samples in lockstep: (seq [n, L], confidence [n, L], nfe)."""
        seq = torch.full((n, L), self.mask_id, dtype=torch.long, device=self.dev)
        seq[:, 0] = self.bos
        conf = torch.ones(n, L, dtype=torch.float64, device=self.dev)
        cache = [(torch.zeros(n, self.heads, 0, self.hd, device=self.dev),) * 2
                 for _ in range(self.layers)]
        nfe = 0
        rows = torch.arange(n, device=self.dev)
        for start in range(0, L, BLOCK):
            masked = [[p for p in range(start, start + BLOCK) if p > 0] for _ in range(n)]
            while masked[0]:
                logits = self.step(self.model, seq[:, start:start + BLOCK], start, cache)
                pick = [m.pop(rng.randrange(len(m))) for m in masked]
                at = torch.tensor(pick, device=self.dev)
                tok, pr = nucleus(logits[rows, at - start], self.mask_id, self.gen)
                seq[rows, at] = tok
                conf[rows, at] = pr
                nfe += 1
            if start + BLOCK < L:
                self.step(self.model, seq[:, start:start + BLOCK], start, cache, store=True)
        return seq, conf, nfe

    def revise(self, seq, conf, gamma, rng):
        """Global revision of one sample: remask the lowest-confidence fraction gamma of the
        generated positions, refill by first-hitting with bidirectional forwards."""
        L = seq.shape[1]
        count = int(math.floor(gamma * (L - 1) + 0.5))
        order = conf[0, 1:].argsort()[:count] + 1  # lowest confidence first
        masked = order.tolist()
        seq[0, masked] = self.mask_id
        pos = torch.arange(L, device=self.dev)
        full = dt.mask_full(L, self.dev)
        sigma = torch.zeros(1, device=self.dev)
        nfe = 0
        while masked:
            p = masked.pop(rng.randrange(len(masked)))
            logits = self.model.backbone(seq, sigma, pos, full,
                                         rows=torch.tensor([p], device=self.dev))
            tok, _ = nucleus(logits[:, 0], self.mask_id, self.gen)
            seq[0, p] = tok[0]
            nfe += 1
        return nfe

    def run(self, name, L, seed):
        n, gamma = WORKLOADS[name]
        rng = random.Random(seed)
        self.gen.manual_seed(seed)
        with torch.no_grad(), self.autocast:
            self.sync()
            t0 = time.perf_counter()
            seq, conf, nfe = self.draft(n, L, rng)
            self.sync()
            t1 = time.perf_counter()
            rev_nfe = self.revise(seq, conf, gamma, rng) if gamma > 0 else 0
            self.sync()
            t2 = time.perf_counter()
        tokens = n * (L - 1)
        out = {"name": name, "samples": n, "length": L, "gamma": gamma, "seconds": t2 - t0,
               "tokens": tokens, "nfe": n * (nfe + rev_nfe), "tokens_per_s": tokens / (t2 - t0),
               "ms_per_nfe": 1e3 * (t2 - t0) / (nfe + rev_nfe),
               "revision_ms_per_nfe": 1e3 * (t2 - t1) / rev_nfe if rev_nfe else 0.0}
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a didcl BD3-LM model directory")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--workload", default="W1,W2,W3")
    ap.add_argument("--length", type=int, default=0, help="tokens incl. BOS (0: the model's)")
    ap.add_argument("--dtype", default="fp32", help="comma-separated: fp32, bf16")
    ap.add_argument("--mode", default="eager", help="comma-separated: eager, compile")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    names = [w.strip().upper() for w in a.workload.split(",") if w.strip()]
    bad = [w for w in names if w not in WORKLOADS]
    if bad:
        ap.error(f"--workload: {bad[0]} is not one of W1, W2, W3")
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    with open(os.path.join(a.model, "config.json")) as f:
        L = a.length or json.load(f)["model_length"]
    if L % BLOCK:
        ap.error(f"--length {L}: not a multiple of the block {BLOCK}")
    res = {"model": a.model, "device": str(dev), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "length": L, "variants": []}
    if dev.type == "cuda":
        res["device_name"] = torch.cuda.get_device_name(dev)
    for dtype in a.dtype.split(","):
        model = dt.load_pretrained(a.model).eval().to(dev)
        if dtype == "bf16":
            model = model.to(torch.bfloat16)
        for mode in a.mode.split(","):
            v = {"dtype": dtype, "mode": mode, "workloads": []}
            res["variants"].append(v)
            try:
                if mode == "compile" and not hasattr(torch, "compile"):
                    raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
                r = Runner(model, dev, dtype, mode)
                r.run("W1", min(L, 4 * BLOCK), a.seed)  # warm-up: kernels, allocator, compile
                for name in names:
                    runs = [r.run(name, L, a.seed + i) for i in range(a.reps)]
                    best = dict(runs[0])
                    for k in ("seconds", "tokens_per_s", "ms_per_nfe", "revision_ms_per_nfe"):
                        best[k] = sum(x[k] for x in runs) / len(runs)
                    best["reps"] = a.reps
                    v["workloads"].append(best)
                    # progress on stderr with --json, so a cut run still tells what it got
                    print(f"{dtype:5s} {mode:8s} {name}: {best['tokens_per_s']:9.1f} tokens/s "
                          f"{best['ms_per_nfe']:8.3f} ms/NFE  revision "
                          f"{best['revision_ms_per_nfe']:.3f} ms/NFE", flush=True,
                          file=sys.stderr if a.json else sys.stdout)
            except Exception as e:  # a variant this torch cannot run: say why, go on
                v["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
                print(f"{dtype:5s} {mode:8s} skipped: {v['error']}", flush=True,
                      file=sys.stderr if a.json else sys.stdout)
        del model
    if a.json:
        print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
