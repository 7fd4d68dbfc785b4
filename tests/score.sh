#!/bin/sh
# score.sh — `didcl score` end to end: a tiny BD3-LM and GPT-2 written by
# tools/reference.py; the fixed-draw NELBO (--t --seed --dump-mask) equals the
# reference's NELBO for the same mask within 1e-4 relative; GPT-2's NLL equals the
# reference's; usage and input errors exit 2 / 1 with one-line messages.
# Needs DIDCL, PYTHON_TORCH (skips without it) and DIDCL_TEST_SRCDIR; see tests/local.mk.
set -u
: "${DIDCL:?set DIDCL to the didcl binary}" "${DIDCL_TEST_SRCDIR:?set DIDCL_TEST_SRCDIR}"
[ -n "${PYTHON_TORCH:-}" ] || { echo "SKIP: no Python with torch"; exit 77; }
"$DIDCL" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }
ref="$DIDCL_TEST_SRCDIR/../tools/reference.py"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-score-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

"$PYTHON_TORCH" "$ref" write --arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 \
    --length 32 --block 4 --cond 16 --seed 21 "$tmp/b" >/dev/null || exit 99
"$PYTHON_TORCH" "$ref" write --arch gpt2 --layers 2 --hidden 64 --heads 4 --vocab 97 \
    --length 32 --seed 22 "$tmp/g" >/dev/null || exit 99
ids="5 17 3 88 41 2 9 60 33 12 7 70 1 4 95 23 18 44 61 2 8 30 27 19 50 6 13 90 22 11 3 45 16 9 72 38"

# BD3-LM, one fixed draw: engine vs reference on the same mask
echo "$ids" | "$DIDCL" score --model "$tmp/b" --ids --block 4 --t 0.4 --seed 5 \
    --dump-mask "$tmp/mask.u8" --json >"$tmp/out" 2>"$tmp/err" || { fail "score exited $?"; cat "$tmp/err"; }
"$PYTHON_TORCH" "$ref" nelbo --model "$tmp/b" --block 4 --x0 $ids --mask-file "$tmp/mask.u8" \
    --t 0.4 >"$tmp/want" || fail "reference nelbo failed"
"$PYTHON_TORCH" - "$tmp/out" "$tmp/want" <<'PY' || fail "NELBO differs from the reference"
import json, sys
got = json.load(open(sys.argv[1])); want = json.loads(open(sys.argv[2]).read())
print("didcl score NELBO %.8f, reference %.8f" % (got["nll"], want["nelbo"]))
assert got["tokens"] == 36 and got["windows"] == 2 and got["samples"] == 1
assert abs(got["nll"] - want["nelbo"]) <= 1e-4 * abs(want["nelbo"])
PY

# BD3-LM Monte-Carlo: text output lines
echo "$ids" | "$DIDCL" score --model "$tmp/b" --ids --samples 4 >"$tmp/out" 2>"$tmp/err" || fail "MC score exited $?"
grep -Eq '^draws: +4, t ~ U\[0.001, 1\] per block, seed 0$' "$tmp/out" || { fail "draws line"; cat "$tmp/out"; }
grep -Eq '^NELBO: +[0-9.]+ nats/token \(standard error [0-9.]+\)$' "$tmp/out" || { fail "NELBO line"; cat "$tmp/out"; }
grep -Eq '^PPL bound: +[0-9.]+$' "$tmp/out" || fail "PPL line"

# GPT-2: exact NLL
echo "$ids" | "$DIDCL" score --model "$tmp/g" --ids --json >"$tmp/out" 2>"$tmp/err" || fail "gpt2 score exited $?"
"$PYTHON_TORCH" "$ref" nll --model "$tmp/g" --x0 $ids >"$tmp/want" || fail "reference nll failed"
"$PYTHON_TORCH" - "$tmp/out" "$tmp/want" <<'PY' || fail "GPT-2 NLL differs from the reference"
import json, sys
got = json.load(open(sys.argv[1])); want = json.loads(open(sys.argv[2]).read())
print("didcl score GPT-2 NLL %.8f, reference %.8f" % (got["nll"], want["nll"]))
assert got["tokens"] == 35 and abs(got["nll"] - want["nll"]) <= 1e-5 * abs(want["nll"])
PY

# text through a tokenizer: GPT-2's files, ids above the tiny vocab rejected by name;
# the same text as ids through --ids gives the same figure
printf 'The cat' | "$DIDCL" score --model "$tmp/g" --tokenizer "$DIDCL_TEST_SRCDIR/data/gpt2" \
    >/dev/null 2>"$tmp/err"; st=$?
[ $st -eq 1 ] && grep -q "token 0 of stdin is 464, expected 0..96" "$tmp/err" || { fail "text: status $st"; cat "$tmp/err"; }
printf '%s' '7 9 3 90' >"$tmp/ids"
"$DIDCL" score --model "$tmp/g" --ids --bos --json <"$tmp/ids" >"$tmp/a" 2>"$tmp/err" || fail "--bos exited $?"
printf '%s' '95 7 9 3 90' | "$DIDCL" score --model "$tmp/g" --ids --json >"$tmp/b2" 2>"$tmp/err" || fail "ids exited $?"
cmp -s "$tmp/a" "$tmp/b2" || { fail "--bos differs from BOS written out"; cat "$tmp/a" "$tmp/b2"; }

# errors
echo "some text" | "$DIDCL" score --model "$tmp/b" >/dev/null 2>"$tmp/err"; st=$?
[ $st -eq 1 ] && grep -q "text needs a tokenizer: give --tokenizer PATH, or pass token ids with --ids" "$tmp/err" || { fail "no tokenizer: status $st"; cat "$tmp/err"; }
echo "1 2 x" | "$DIDCL" score --model "$tmp/b" --ids >/dev/null 2>"$tmp/err"; st=$?
[ $st -eq 1 ] && grep -q "stdin line 1: unexpected character 'x'" "$tmp/err" || { fail "bad input: status $st"; cat "$tmp/err"; }
echo "1 200" | "$DIDCL" score --model "$tmp/b" --ids >/dev/null 2>"$tmp/err"; st=$?
[ $st -eq 1 ] && grep -q "token 1 of stdin is 200, expected 0..96" "$tmp/err" || { fail "bad id: status $st"; cat "$tmp/err"; }
echo "1 2" | "$DIDCL" score --model "$tmp/b" --ids --t 1.5 >/dev/null 2>"$tmp/err"; st=$?
[ $st -eq 2 ] && grep -q -- "--t: '1.5' is not a number in \[0, 1\]" "$tmp/err" || { fail "bad --t: status $st"; cat "$tmp/err"; }

exit $failed
