#!/bin/sh
# bench-device.sh — run ON the GPU machine, in one device call: the end-to-end benchmark
# (docs/performance.md) on the first GPU. Writes a random 110M BD3-LM (the published OWT
# configuration, L = 1024, GPT-2's tokenizer from tests/data/gpt2), fills the kernel
# cache (didcl warmup), then tools/bench-side-by-side.sh for it and, when models/default
# travelled, for the default model (PyTorch on CUDA beside didcl each time). Leaves in
# $OUT: summary.txt (steps, exit status, seconds), the logs, both sides' JSON per model,
# performance.md (docs/performance.md with the new sections) and sections.md (the new
# sections alone, for the docs).
#
# Prepared here by tools/device-prep.sh; the call carries
# .libs tests/.libs tools/.libs .device plugins/.libs (models/evaluator moved out first).
#   OUT=$OUT sh tools/bench-device.sh
# Knobs: BENCH_REPS (1), BENCH_CONFIG (110m, or small: a 2-layer model of the same
# vocabulary, L = 32, to rehearse the script on a CPU), TORCH_MODES (eager; "eager,compile" adds torch.compile, whose
# compile time does not fit the budget of one call with everything else), TORCH_DTYPES
# (fp32,bf16; fp32 alone halves PyTorch's share of the call), DIDCL_DEVICE.
# Budget: about 200 s of run time on an H200 (each model's step is cut by `timeout`).
set -u
OUT=${OUT:-/tmp/didcl-bench-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
root=$PWD
. tools/device-env.sh
export LD_LIBRARY_PATH="$root/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHON_TORCH="${PYTHON_TORCH:-python3}"
export DIDCL="$root/.libs/didcl" DIDCL_CACHE_DIR="${DIDCL_CACHE_DIR:-/tmp/didcl-kcache}"
reps=${BENCH_REPS:-1}
modes=${TORCH_MODES:-eager}
dtypes=${TORCH_DTYPES:-fp32,bf16}
sum="$OUT/summary.txt"
: >"$sum"
step() { # step NAME CMD...: run, log to $OUT/NAME.log, record status and seconds
    name=$1; shift
    t0=$(date +%s)
    "$@" >"$OUT/$name.log" 2>&1
    st=$?
    echo "$name: exit $st ($(( $(date +%s) - t0 )) s)" | tee -a "$sum"
}
{ "$DIDCL" devices; nvidia-smi -L; "$PYTHON_TORCH" -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())'; } >"$OUT/devices.txt" 2>&1
cp docs/performance.md "$OUT/performance.md"
cp docs/performance.md "$OUT/before.md"

m110=/tmp/didcl-bd3-110m
cfg="--layers 12 --hidden 768 --heads 12 --length 1024 --cond 128"
[ "${BENCH_CONFIG:-110m}" = small ] && cfg="--layers 2 --hidden 128 --heads 4 --length 32 --cond 64"
step write_110m "$PYTHON_TORCH" tools/reference.py write --arch bd3lm $cfg --vocab 50258 \
    --block 4 --seed 0 "$m110"
cp tests/data/gpt2/encoder.json tests/data/gpt2/vocab.bpe "$m110/"
step warmup "$DIDCL" warmup
dev=$("$DIDCL" devices --json | "$PYTHON_TORCH" -c 'import json,sys; d=[x for x in json.load(sys.stdin) if x["default"]]; print(d[0]["name"] if d else "GPU")')
step side_110m timeout 130 sh tools/bench-side-by-side.sh --model "$m110" --reps "$reps" \
    --mode "$modes" --dtype "$dtypes" --out "$OUT/110m" --doc "$OUT/performance.md" \
    --label "$dev vs PyTorch on CUDA: ${BENCH_CONFIG:-110m} random weights"
rm -rf "$m110"
if [ -f models/default/config.json ]; then
    step side_default timeout 50 sh tools/bench-side-by-side.sh --model models/default \
        --reps "$reps" --mode "$modes" --dtype "$dtypes" --out "$OUT/default" --doc "$OUT/performance.md" \
        --label "$dev vs PyTorch on CUDA: default model, L = 512"
else
    echo "side_default: skipped (models/default did not travel)" | tee -a "$sum"
fi
# the new sections alone: what performance.md has that before.md had not
"$PYTHON_TORCH" - "$OUT/before.md" "$OUT/performance.md" >"$OUT/sections.md" <<'PY'
import re, sys
old, new = (open(p).read() for p in sys.argv[1:])
for part in re.split(r"(?m)^(?=##+ )", new):  # a section ends at the next heading of any level
    if part.startswith("### ") and part not in old:
        print(part.rstrip("\n") + "\n")
PY
cat "$sum"
