#!/bin/sh
# bench-side-by-side.sh — `didcl bench` and tools/bench_torch.py one after the other on the
# same machine (didcl on its OpenCL device, PyTorch on CUDA when present, else the CPU),
# then their table with ratios as a section "### LABEL" of docs/performance.md (a section
# of the same label is replaced). The two JSON files stay in --out.
#
#   tools/bench-side-by-side.sh [--model DIR] [--length L] [--reps N] [--workload W1,W2,W3]
#       [--dtype fp32,bf16] [--mode eager,compile] [--label TEXT] [--out DIR] [--doc FILE]
#
# Environment: DIDCL (the didcl binary; default ./didcl), PYTHON_TORCH (a python3 with
# torch; default Debian's /usr/bin/python3 when it has torch, else python3), DIDCL_DEVICE.
set -eu
cd "$(dirname "$0")/.."
model=models/default length=0 reps=1 workload=W1,W2,W3 dtype=fp32,bf16 mode=eager
label="" out=/tmp/didcl-side-by-side doc=docs/performance.md
while [ $# -gt 0 ]; do
    case $1 in
    --model) model=$2 ;; --length) length=$2 ;; --reps) reps=$2 ;; --workload) workload=$2 ;;
    --dtype) dtype=$2 ;; --mode) mode=$2 ;; --label) label=$2 ;; --out) out=$2 ;;
    --doc) doc=$2 ;;
    *) echo "bench-side-by-side.sh: unknown option '$1' (see the head of the script)" >&2; exit 2 ;;
    esac
    shift 2 || { echo "bench-side-by-side.sh: $1 needs a value" >&2; exit 2; }
done
DIDCL=${DIDCL:-./didcl}
if [ -z "${PYTHON_TORCH:-}" ]; then
    PYTHON_TORCH=python3
    /usr/bin/python3 -c 'import torch' 2>/dev/null && PYTHON_TORCH=/usr/bin/python3
fi
mkdir -p "$out"
largs="--length $length"
[ "$length" = 0 ] && largs=""

echo "didcl bench: $model" >&2
"$DIDCL" bench --model "$model" $largs --reps "$reps" --workload "$workload" --json \
    >"$out/didcl.json"
L=$("$PYTHON_TORCH" -c 'import json,sys; print(json.load(open(sys.argv[1]))["length"])' "$out/didcl.json")
echo "bench_torch.py: $model, $dtype, $mode" >&2
"$PYTHON_TORCH" tools/bench_torch.py --model "$model" --length "$L" --reps "$reps" \
    --workload "$workload" --dtype "$dtype" --mode "$mode" --json >"$out/torch.json"
if [ -z "$label" ]; then
    label=$("$PYTHON_TORCH" -c 'import json, os, sys; d = json.load(open(sys.argv[1]))
print("%s: %s, L = %d" % (d["device"], os.path.basename(d["model"].rstrip("/")), d["length"]))' "$out/didcl.json")
fi
cmd="tools/bench-side-by-side.sh --model $model --length $L --reps $reps --workload $workload --dtype $dtype --mode $mode"
"$PYTHON_TORCH" tools/bench_table.py --didcl "$out/didcl.json" --torch "$out/torch.json" \
    --label "$label" --command "$cmd" "$doc"
echo "bench-side-by-side.sh: section '$label' written to $doc" >&2
