#!/bin/sh
# Resuming tools/train.py from its checkpoint continues the same loss curve (CPU, tiny
# BD3-LM, 8 steps, checkpoint at step 4 by --stop-at): 1 rank -> 1 rank bit-identical,
# 2 ranks (torchrun, gloo) -> 1 rank and 1 rank -> 2 ranks within float tolerance of the
# uninterrupted single-process run. Skips (77) without torch (with gloo).
. "${srcdir:-.}/tests/train_torchrun.sh"
set -e
opt="$tiny --batch 8 --steps 8"
run ref train $opt --out "$tmp/ref"
run a1 train $opt --stop-at 4 --out "$tmp/a"
grep -q "training done: 4 steps" "$tmp/a/log.txt" || { echo "FAIL: --stop-at 4"; cat "$tmp/a/log.txt"; exit 1; }
run a2 train $opt --resume --out "$tmp/a"
run b1 trun 2 $opt --stop-at 4 --out "$tmp/b"
run b2 train $opt --resume --out "$tmp/b"
grep -q "resumed from .* at step 4 .*written by 2 rank(s), now 1" "$tmp/b/log.txt" \
    || { echo "FAIL: 2 -> 1 did not resume"; cat "$tmp/b/log.txt"; exit 1; }
run c1 train $opt --stop-at 4 --out "$tmp/c"
run c2 trun 2 $opt --resume --out "$tmp/c"
grep -q "resumed from .* at step 4 .*written by 1 rank(s), now 2" "$tmp/c/log.txt" \
    || { echo "FAIL: 1 -> 2 did not resume"; cat "$tmp/c/log.txt"; exit 1; }
grep -q "training done: 8 steps" "$tmp/c/log.txt" || { echo "FAIL: 1 -> 2 did not reach step 8"; exit 1; }
curves --tol 0 --weights "$tmp/ref" "$tmp/a"
curves --tol 1e-5 --weights --wtol 1e-3 "$tmp/ref" "$tmp/b" "$tmp/c"
echo "train resume: ok"
