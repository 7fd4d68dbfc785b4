"""Checks of tools/didcl_torch.py run by tests/train_smoke.sh (CPU, torch >= 1.13):
the 2L mixed-block training forward equals the block-causal (KV-cache equivalent) forward
block by block, B = L equals the full bidirectional forward, and the 2L mask matches the
published rule on a hand-checked case. Exits non-zero on a mismatch."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import didcl_torch as dt  # noqa: E402

torch.manual_seed(0)
V, L = 50, 16
m = dt.BD3LM({"n_blocks": 2, "hidden_dim": 32, "n_heads": 2, "cond_dim": 16, "vocab_size": V,
              "model_length": L, "dropout": 0.0}).eval()
for p in m.parameters():          # adaLN and the output head start at zero; randomise all
    torch.nn.init.normal_(p, std=0.3)
x0 = torch.randint(0, V - 2, (3, L))
xt = x0.clone()
xt[torch.rand(3, L) < 0.5] = V - 1
bsz = torch.tensor([4, 8, L])
with torch.no_grad():
    out = m.forward_train(xt, x0, bsz)
    worst = 0.0
    for i in range(3):
        B = int(bsz[i])
        for k in range(L // B):
            seq = torch.cat([x0[i, :k * B], xt[i, k * B:(k + 1) * B]])[None]
            ref = m(seq, dt.mask_block_causal(B, seq.shape[1]))[0, k * B:]
            worst = max(worst, float((ref - out[i, k * B:(k + 1) * B]).abs().max()))
    full = m(xt[2:3])[0]
    worst_full = float((full - out[2]).abs().max())
msk = dt.mask_block_diffusion(torch.tensor([2]), 4)[0].int()
want = torch.tensor([[1, 1, 0, 0, 0, 0, 0, 0],
                     [1, 1, 0, 0, 0, 0, 0, 0],
                     [0, 0, 1, 1, 1, 1, 0, 0],
                     [0, 0, 1, 1, 1, 1, 0, 0],
                     [0, 0, 0, 0, 1, 1, 0, 0],
                     [0, 0, 0, 0, 1, 1, 0, 0],
                     [0, 0, 0, 0, 1, 1, 1, 1],
                     [0, 0, 0, 0, 1, 1, 1, 1]], dtype=torch.int32)
print("equiv: 2L vs block-causal max diff %.3g, B=L vs full %.3g, mask %s" % (
    worst, worst_full, "ok" if torch.equal(msk, want) else "WRONG"))
sys.exit(0 if worst < 1e-4 and worst_full < 1e-4 and torch.equal(msk, want) else 1)
