#!/bin/bash
# eval-sweep-device.sh — run tools/eval-sweep ON the GPU machine (device tool, kind
# nvidia-h200), in calls of at most 10 minutes. The two models (73 MB) do not fit one
# transfer (64 MiB), so they are staged into .sweep/ (ignored by git, kept on a warm
# machine between calls) one per call; see docs/results.md "Reproducing" for the calls.
# Each call continues the sweep where the last stopped (finished configurations are kept
# in .sweep/out) and leaves $OUT/sweep.tgz (the --out directory so far) and
# $OUT/sweep.log. Arguments go to tools/eval-sweep (e.g. --samples 64 --length 512).
# Knobs: SWEEP_TIMEOUT (seconds for eval-sweep, default 540), DIDCL_DEVICE.
set -u
OUT=${OUT:-/tmp/didcl-sweep-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
root=$PWD
. tools/device-env.sh
export LD_LIBRARY_PATH="$root/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DIDCL_PLUGIN_PATH="$root/plugins/.libs" DIDCL_CACHE_DIR=/tmp/didcl-kcache
mkdir -p .sweep
for m in default evaluator; do
    if [ -f "models/$m/config.json" ] && [ ! -f ".sweep/$m/config.json" ]; then
        rm -rf ".sweep/$m.tmp" && cp -r "models/$m" ".sweep/$m.tmp" && mv ".sweep/$m.tmp" ".sweep/$m"
    fi
done
ls -d .sweep/*/ | tee "$OUT/sweep.log"
if [ ! -f .sweep/default/config.json ] || [ ! -f .sweep/evaluator/config.json ]; then
    echo "eval-sweep-device: staged what this call carried; the next call must carry the other model" | tee -a "$OUT/sweep.log"
    exit 0
fi
"$root/.libs/didcl" devices >>"$OUT/sweep.log" 2>&1
timeout "${SWEEP_TIMEOUT:-540}" python3 tools/eval-sweep --didcl "$root/.libs/didcl" \
    --model .sweep/default --evaluator .sweep/evaluator --out .sweep/out \
    --results .sweep/out/results.md "$@" 2>&1 | tee -a "$OUT/sweep.log"
st=${PIPESTATUS[0]}
tar czf "$OUT/sweep.tgz" -C .sweep out
echo "eval-sweep-device: exit $st ($( ls .sweep/out/*.json 2>/dev/null | wc -l) configurations done)" | tee -a "$OUT/sweep.log"
exit "$st"
