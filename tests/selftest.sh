#!/bin/sh
# selftest.sh — `didcl selftest`: every op passes on this machine's device, --json is
# valid and agrees, and it can fail: with a kernel directory whose GELU constant is
# wrong (DIDCL_CL_DIR), the GELU ops report FAIL and the exit status is 1.
# Needs DIDCL and DIDCL_TOP_SRCDIR (tests/local.mk); python3 reads the JSON.
set -u
: "${DIDCL:?set DIDCL to the didcl binary}"
src=${DIDCL_TOP_SRCDIR:-.}
"$DIDCL" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-selftest-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

"$DIDCL" selftest >"$tmp/out" 2>"$tmp/err" || { fail "selftest exited $?"; cat "$tmp/out" "$tmp/err"; }
n=$(grep -c ' pass$' "$tmp/out")
[ "$n" -ge 16 ] || fail "only $n ops pass"
tail -1 "$tmp/out" | grep -q "^$n/$n ops pass on " || fail "summary line: $(tail -1 "$tmp/out")"
if command -v python3 >/dev/null; then
    "$DIDCL" selftest --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["passed"] == d["total"] == len(d["ops"]) >= 16, d
assert all(o["passed"] and o["worst"] <= 1 and o["error"] == "" for o in d["ops"]), d
' || fail "selftest --json"
fi

# A wrong GELU constant in the kernels: the GELU ops fail, the others pass, exit 1.
mkdir "$tmp/cl" && cp "$src"/cl/*.cl "$tmp/cl/" || exit 99
sed 's/0\.044715f/0.05f/' "$src/cl/common.cl" >"$tmp/cl/common.cl"
cmp -s "$src/cl/common.cl" "$tmp/cl/common.cl" && { echo "FAIL: could not alter common.cl"; exit 1; }
DIDCL_CL_DIR=$tmp/cl DIDCL_CACHE_DIR=$tmp/kc "$DIDCL" selftest >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "selftest with a wrong GELU exited $rc"
grep -q '^bias_add_gelu .* FAIL$' "$tmp/out" || fail "bias_add_gelu not reported: $(cat "$tmp/out")"
grep -q '^gemm_skinny .* FAIL$' "$tmp/out" || fail "gemm_skinny (GELU) not reported: $(cat "$tmp/out")"
grep -q '^layernorm_bias .* pass$' "$tmp/out" || fail "layernorm_bias should still pass"

"$DIDCL" selftest --bogus 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "--bogus exited $rc"
grep -q "didcl selftest: unknown option '--bogus'" "$tmp/err" || fail "--bogus message: $(cat "$tmp/err")"
"$DIDCL" selftest --device 99:99 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "--device 99:99: exit $rc, $(cat "$tmp/err")"
exit $failed
