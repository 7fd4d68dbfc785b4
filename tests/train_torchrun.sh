# Shared by tests/train_ddp.sh and tests/train_resume.sh (sourced): the python, the skips,
# a temp dir, the tiny model's options and `trun N ARGS...` = tools/train.py under torchrun
# with N CPU processes (gloo) on a free local port.
PY=${DIDCL_TORCH_PYTHON:-/usr/bin/python3}
src=${srcdir:-.}
"$PY" -c 'import torch, numpy' >/dev/null 2>&1 || { echo "SKIP: $PY cannot import torch"; exit 77; }
"$PY" -c 'import torch.distributed as d, torch.distributed.run; assert d.is_available() and d.is_gloo_available()' \
    >/dev/null 2>&1 || { echo "SKIP: $PY has no torch.distributed with gloo"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
TMPDIR=$tmp; export TMPDIR          # torchrun's worker log dirs
OMP_NUM_THREADS=1; export OMP_NUM_THREADS
txt=$src/tests/data/smoke.txt
# tiny BD3-LM, no dropout (dropout masks are per rank: curves would match only in law)
tiny="--tokenizer bytes --train $txt --valid $txt --layers 2 --hidden 32 --heads 2 --cond-dim 16
  --model-length 64 --block-mix 4:0.5,16:0.2,L:0.3 --dropout 0 --warmup 3 --log-every 1
  --eval-every 0 --eval-batches 1 --final-eval-batches 1 --cache-dir $tmp/cache --device cpu"
train() { "$PY" "$src/tools/train.py" "$@"; }
trun() {
    n=$1; shift
    for try in 1 2 3; do
        port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        # --redirects/--tee given: their default "0" crashes torch 1.13's launcher on
        # Python 3.11 (Std.from_str finds no member for 0)
        "$PY" -m torch.distributed.run --redirects 1 --tee 1 --nnodes 1 --nproc_per_node "$n" \
            --master_addr 127.0.0.1 --master_port "$port" "$src/tools/train.py" "$@" >"$tmp/trun.log" 2>&1 \
            && return 0
        grep -qi "address already in use" "$tmp/trun.log" || break
    done
    cat "$tmp/trun.log"
    return 1
}
# run NAME CMD...: run one training, its output in $tmp/NAME.log (shown on failure)
run() {
    name=$1; shift
    "$@" >"$tmp/$name.log" 2>&1 || { echo "FAIL: $name"; cat "$tmp/$name.log"; exit 1; }
}
curves() { "$PY" "$src/tests/train_curves.py" "$@"; }
