#!/usr/bin/env python3
"""Reference sampler (NOT the engine): BD3-LM semi-AR block diffusion plus an optional DiD
global revision, written plainly on top of didcl_torch for eyeballing a trained model.

Stage 1: blocks of --block tokens after BOS; each block is denoised by first-hitting steps
(one uniformly chosen masked position per step, token drawn from nucleus-p SUBS
probabilities), attention block-causal (equal to a KV-cached sampler), no cache (slow).
Stage 2 (--gamma > 0): remask the fraction gamma of lowest snapshot-confidence tokens and
refill them with full bidirectional attention, --per-step tokens per forward.

  python3 tools/ref_sample.py models/default --len 256 --seed 1 [--gamma 0.3]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import didcl_torch as dt  # noqa: E402


def byte_decoder(tok_json):
    """Decode ids with tokenizer.json alone (GPT-2 byte-level alphabet)."""
    j = json.load(open(tok_json, encoding="utf-8"))
    itos = {v: k for k, v in j["model"]["vocab"].items()}
    itos.update({t["id"]: t["content"] for t in j.get("added_tokens", [])})
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    u2b = {chr(c): b for b, c in zip(bs, cs)}
    return lambda ids: bytes(u2b.get(ch, 63) for i in ids for ch in itos[i]).decode("utf-8", "replace")


def pick(logp, p, g):
    """Nucleus-p sample from log-probs [V] (fp64); returns (token, its probability)."""
    pr = logp.double().exp()
    sp, si = pr.sort(descending=True)
    keep = (sp.cumsum(0) - sp) < p                        # smallest prefix reaching mass p
    sp = sp * keep
    k = int(torch.multinomial((sp / sp.sum()).float(), 1, generator=g))
    return int(si[k]), float(pr[si[k]])


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--len", type=int, default=256)
    ap.add_argument("--block", type=int, default=4)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--gamma", type=float, default=0.0)
    ap.add_argument("--per-step", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    m = dt.load_pretrained(a.model, dev).eval()
    c = m.config
    mask_id, B = c["mask_token_id"], a.block
    g = torch.Generator().manual_seed(a.seed)
    x = torch.tensor([[c["bos_token_id"]]], device=dev)
    conf = [1.0]
    while x.shape[1] < a.len:
        # blocks are aligned as in training: BOS is position 0 of block 0
        x = torch.cat([x, torch.full((1, B - x.shape[1] % B), mask_id, device=dev)], 1)
        mk = dt.mask_block_causal(B, x.shape[1], dev)
        while (x[0] == mask_id).any():
            logp = m.subs(m(x, mk), x)[0]
            masked = (x[0] == mask_id).nonzero().view(-1)
            i = int(masked[torch.randint(len(masked), (1,), generator=g)])
            x[0, i], pr = pick(logp[i].cpu(), a.top_p, g)
            conf.append(pr)
    x, conf = x[:, :a.len], torch.tensor(conf[:a.len])
    stage1 = x.clone()
    if a.gamma > 0:
        k = int(a.gamma * (a.len - 1))
        worst = conf[1:].argsort()[:k] + 1                   # never remask BOS
        x[0, worst.to(dev)] = mask_id
        while (x[0] == mask_id).any():
            logp = m.subs(m(x), x)[0]
            masked = (x[0] == mask_id).nonzero().view(-1)
            order = torch.randperm(len(masked), generator=g)[:a.per_step]
            for i in masked[order.to(dev)].tolist():
                x[0, i], _ = pick(logp[i].cpu(), a.top_p, g)
    dec = byte_decoder(os.path.join(a.model, "tokenizer.json"))
    print("=== stage 1 (block %d) ===\n%s" % (B, dec(stage1[0, 1:].tolist())))
    if a.gamma > 0:
        print("=== after global revision (gamma %.2f) ===\n%s" % (a.gamma, dec(x[0, 1:].tolist())))


if __name__ == "__main__":
    main()
