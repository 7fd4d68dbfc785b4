#!/bin/sh
# tools/train.py under torchrun (CPU, gloo, 2 processes, a tiny BD3-LM and GPT-2, 8 steps):
# the loss and grad-norm curves of 2 ranks x micro-batch 4 equal those of 1 rank x batch 8,
# as do 1 rank accumulating 4 x 2 and 2 ranks accumulating 2 x 2 (global batch 8 in every
# case; each rank takes its slice of the step's global batch); the exported weights agree.
# Skips (77) without torch (with gloo) on /usr/bin/python3 or $DIDCL_TORCH_PYTHON.
. "${srcdir:-.}/tests/train_torchrun.sh"
set -e
opt="$tiny --batch 8 --steps 8"
run bd3lm_1 train --arch bd3lm $opt --out "$tmp/bd3lm_1"
run bd3lm_1_acc4 train --arch bd3lm $opt --micro-batch 2 --out "$tmp/bd3lm_1_acc4"
run bd3lm_2 trun 2 --arch bd3lm $opt --out "$tmp/bd3lm_2"
run bd3lm_2_acc2 trun 2 --arch bd3lm $opt --micro-batch 2 --out "$tmp/bd3lm_2_acc2"
grep -q "2 ranks (gloo), global batch 8 = 2 ranks x 2 accumulation x 2 micro-batch" "$tmp/bd3lm_2_acc2/log.txt" \
    || { echo "FAIL: no distributed layout line"; cat "$tmp/bd3lm_2_acc2/log.txt"; exit 1; }
curves --tol 1e-5 --weights --wtol 1e-3 "$tmp/bd3lm_1" "$tmp/bd3lm_1_acc4" "$tmp/bd3lm_2" "$tmp/bd3lm_2_acc2"
run gpt2_1 train --arch gpt2 $opt --out "$tmp/gpt2_1"
run gpt2_2 trun 2 --arch gpt2 $opt --out "$tmp/gpt2_2"
curves --tol 1e-5 --weights --wtol 1e-3 "$tmp/gpt2_1" "$tmp/gpt2_2"
echo "train ddp: ok"
