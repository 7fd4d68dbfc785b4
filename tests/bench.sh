#!/bin/sh
# bench.sh — `didcl warmup` and `didcl bench` end to end on the tiny random BD3-LM of
# `check_generate --write-model` (length 32): warmup fills a fresh kernel cache and a
# second warmup finds everything there; generate reports its compile line and
# compile_seconds; bench --json has every workload with positive, mutually consistent
# figures (tokens/s = tokens / seconds, W1 and W3 NFE, the revision only in W2, device
# split + host = wall time); text output has its header; bad options exit 2 with a
# message. No figure is compared with a time threshold.
# Needs DIDCL and MKGEN (see tests/local.mk); python3 reads the JSON.
set -u
umask 022
: "${DIDCL:?set DIDCL to the didcl binary}"
[ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ] || { echo "SKIP: no check_generate (Check missing)"; exit 77; }
PY=$(command -v python3 || command -v /usr/bin/python3) || { echo "SKIP: python3 missing"; exit 77; }
"$DIDCL" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-bench-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

mkdir "$tmp/m" && "$MKGEN" --write-model "$tmp/m" || exit 99

# run EXPECTED_STATUS ARGS...: run didcl; stdout in $tmp/out, stderr in $tmp/err.
run() {
    want=$1; shift
    "$DIDCL" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || { fail "didcl $* exited $got, expected $want"; cat "$tmp/err"; }
}
err_has() { grep -qF -- "$1" "$tmp/err" || { fail "stderr lacks '$1':"; cat "$tmp/err"; }; }
out_has() { grep -qF -- "$1" "$tmp/out" || { fail "stdout lacks '$1':"; cat "$tmp/out"; }; }
py() { "$PY" -c "$1" "$2" || fail "python check failed on $2"; }

# ---- warmup: a fresh cache gets filled, a second warmup compiles nothing ----
export DIDCL_CACHE_DIR="$tmp/kc"
run 0 warmup --json
cp "$tmp/out" "$tmp/w1.json"
ls "$tmp/kc"/*.bin >/dev/null 2>&1 || fail "warmup left no kernel binaries in $tmp/kc"
py '
import json, sys
w = json.load(open(sys.argv[1]))
assert w["compiled"] > 0 and w["from_cache"] == 0, w
assert w["cache_dir"].endswith("/kc") and w["model"] is None, w
' "$tmp/w1.json"
run 0 warmup --json --model "$tmp/m"
py '
import json, sys
w = json.load(open(sys.argv[1]))
assert w["compiled"] == 0 and w["from_cache"] > 0, w
assert w["model_seconds"] >= 0, w
' "$tmp/out"
run 0 warmup
out_has "0 programs compiled"
out_has "cache: $tmp/kc"

# ---- generate: the compile line, outside the stages ----
run 0 generate --model "$tmp/m" --seed 3 --json
err_has "compile"
err_has "before stage 1"
py '
import json, sys
s = json.loads(open(sys.argv[1]).readline())
assert s["compile_seconds"] >= 0, s
' "$tmp/out"

# ---- warmup errors ----
run 2 warmup --bogus
err_has "unknown option"
run 2 warmup --half
err_has "--half needs --model"
run 2 warmup extra
err_has "unexpected argument 'extra'"
run 1 warmup --device no-such-device-xyz
err_has "no-such-device-xyz"
DIDCL_CACHE_DIR=off run 1 warmup
err_has "kernel cache is off"
run 1 warmup --model "$tmp/nowhere"
err_has "$tmp/nowhere"

# ---- bench --json: structure and consistency ----
run 0 bench --model "$tmp/m" --json --reps 2 --seed 5
py '
import json, sys
b = json.load(open(sys.argv[1]))
assert b["length"] == 32 and b["copy_gb_per_s"] > 0 and b["weight_bytes_per_forward"] > 0, b
w = {x["name"]: x for x in b["workloads"]}
assert sorted(w) == ["W1", "W2", "W3"], w.keys()
kinds = ["products", "attention", "sampling", "transfers", "other", "host"]
for n, x in w.items():
    assert x["reps"] == 2 and x["length"] == 32, x
    for k in ("seconds", "tokens", "nfe", "tokens_per_s", "ms_per_nfe", "weight_gb_per_s",
              "weight_fraction_of_copy"):
        assert x[k] > 0, (n, k, x[k])
    assert x["compile_seconds"] >= 0, x
    assert abs(x["tokens_per_s"] - x["tokens"] / x["seconds"]) <= 0.01 * x["tokens_per_s"], x
    per = x["nfe"] / x["samples"]
    assert abs(x["ms_per_nfe"] - 1e3 * x["seconds"] / per) <= 0.01 * x["ms_per_nfe"], x
    s = x["split_seconds"]
    assert sorted(s) == sorted(kinds), s
    assert all(s[k] >= 0 for k in kinds[:5]) and s["products"] > 0, s
    assert abs(sum(s.values()) - x["seconds"]) <= 1e-6 + 1e-3 * x["seconds"], (sum(s.values()), x)
# first-hitting without a prompt: one forward per generated position
assert w["W1"]["samples"] == 1 and w["W1"]["nfe"] == 31 and w["W1"]["tokens"] == 31, w["W1"]
assert w["W3"]["samples"] == 16 and w["W3"]["nfe"] == 16 * 31 and w["W3"]["tokens"] == 16 * 31, w["W3"]
assert w["W1"]["revision_ms_per_nfe"] == 0 and w["W3"]["revision_ms_per_nfe"] == 0, w
assert w["W2"]["gamma"] == 0.25 and w["W2"]["revision_ms_per_nfe"] > 0 and w["W2"]["nfe"] > 31, w["W2"]
' "$tmp/out"

# ---- bench text output ----
run 0 bench --model "$tmp/m" --workload w1 --length 16
out_has "L = 16"
out_has "device copy bandwidth"
out_has "products"
grep -q '^  W1 ' "$tmp/out" || fail "no W1 row: $(cat "$tmp/out")"
grep -q '^  W2 ' "$tmp/out" && fail "W2 ran without being asked for"

# ---- bench errors ----
run 2 bench --model "$tmp/m" --workload W4
err_has "'W4' is not one of W1, W2, W3"
run 2 bench --model "$tmp/m" --reps 0
err_has "--reps"
run 2 bench --model "$tmp/m" --length 30
err_has "block"
run 2 bench --nope
err_has "unknown option"

exit $failed
