#!/bin/sh
# device-run.sh — run ON the GPU machine (tools/device-prep.sh prepared the build here):
# the model's parity tests (check_ops, check_model, score.sh) on the first GPU, then
# tools/bench-model on a 110M BD3-LM with random weights written by tools/reference.py
# (never kept), next to PyTorch on CUDA. Results and logs go to $OUT (summary.txt first).
# Knobs: DIDCL_DEVICE (device selector, default: first GPU), REF_DEVICE (cuda),
# BENCH_CONFIG (110m, or small for a quick check), BENCH_REPS (20).
set -u
OUT=${OUT:-/tmp/didcl-device-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
root=$PWD
. tools/device-env.sh
export LD_LIBRARY_PATH="$root/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHON_TORCH="${PYTHON_TORCH:-python3}" DIDCL_TEST_SRCDIR="$root/tests"
export DIDCL="$root/.libs/didcl" DIDCL_CACHE_DIR="${DIDCL_CACHE_DIR:-/tmp/didcl-kcache}"
ref_dev=${REF_DEVICE:-cuda}
reps=${BENCH_REPS:-20}
sum="$OUT/summary.txt"
: >"$sum"
step() { # step NAME CMD...: run, log to $OUT/NAME.log, record the status
    name=$1; shift
    t0=$(date +%s)
    "$@" >"$OUT/$name.log" 2>&1
    st=$?
    echo "$name: exit $st ($(( $(date +%s) - t0 )) s)" | tee -a "$sum"
}
{ clinfo -l; "$DIDCL" devices; "$PYTHON_TORCH" -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())'; } >"$OUT/devices.txt" 2>&1
step check_ops tests/.libs/check_ops
step check_model tests/.libs/check_model
step score_sh sh tests/score.sh
if [ "${BENCH_CONFIG:-110m}" = small ]; then
    cfg="--layers 4 --hidden 256 --heads 4 --vocab 4096 --length 256 --cond 64"
    bargs="--start 252 --L 256"
else
    cfg="--layers 12 --hidden 768 --heads 12 --vocab 50258 --length 1024 --cond 128"
    bargs="--start 1020 --L 1024"
fi
model=/tmp/didcl-bench-model
# the benchmarks link the library statically (tools/NAME) or, in some builds, through
# libtool (tools/.libs/NAME); carry whichever exists
tool() { t=tools/.libs/$1; [ -x "$t" ] || t=tools/$1; shift; "$t" "$@"; }
step write_model "$PYTHON_TORCH" tools/reference.py write --arch bd3lm $cfg --block 4 --seed 0 "$model"
step bench_fp32 tool bench-model --model "$model" $bargs --B 4 --reps "$reps" --ref-device "$ref_dev"
step bench_half tool bench-model --model "$model" $bargs --B 4 --reps "$reps" --half --no-ref
# products alone (skinny kernel, CLBlast, staged half) and the batched block step
step bench_ops tool bench-ops --reps "$reps" --m 4,16,64,256,1024 --no-attention
step bench_b16 tool bench-model --model "$model" $bargs --B 4 --reps "$reps" --modes a --no-ref --batch 16
step bench_b16_half tool bench-model --model "$model" $bargs --B 4 --reps "$reps" --modes a --no-ref --batch 16 --half
rm -rf "$model"
cat "$OUT/bench_fp32.log" "$OUT/bench_half.log" "$OUT/bench_b16.log" "$OUT/bench_b16_half.log" \
    "$OUT/bench_ops.log" >>"$sum"
grep -h "max abs err\|nelbo\|NLL\|Checks" "$OUT/check_model.log" >>"$sum" 2>/dev/null
cat "$sum"
