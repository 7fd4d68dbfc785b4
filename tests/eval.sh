#!/bin/sh
# eval.sh — `didcl eval` end to end: the tiny random BD3-LM of `check_generate
# --write-model` generates, tiny GPT-2 evaluators of `check_generate --write-evaluator`
# (context 16, so 32-token samples take the sliding window) score: the --json fields,
# Gen PPL = exp(mean of the saved per-token NLLs), token counts (EOS targets left out),
# determinism of --save, the retokenizing path (an evaluator with GPT-2's own tokenizer),
# --compare (a file against itself: ratio exactly 1; unpaired files refused), and bad
# inputs (exit 2 for usage, 1 for runtime) naming the option and leaving no --save file.
# Needs DIDCL and MKGEN (see tests/local.mk); python3 reads the JSON.
set -u
umask 022
: "${DIDCL:?set DIDCL to the didcl binary}"
[ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ] || { echo "SKIP: no check_generate (Check missing)"; exit 77; }
PY=$(command -v python3 || command -v /usr/bin/python3) || { echo "SKIP: python3 missing"; exit 77; }
"$DIDCL" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-eval-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

mkdir "$tmp/m" "$tmp/e" "$tmp/g" || exit 99
"$MKGEN" --write-model "$tmp/m" && "$MKGEN" --write-evaluator "$tmp/e" &&
    "$MKGEN" --write-evaluator "$tmp/g" gpt2 || exit 99
M="--model $tmp/m --quiet"

# ev EXPECTED_STATUS ARGS...: run didcl eval; stdout in $tmp/out, stderr in $tmp/err.
ev() {
    want=$1; shift
    "$DIDCL" eval "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || { fail "didcl eval $* exited $got, expected $want"; cat "$tmp/err"; }
}
err_has() { grep -qF -- "$1" "$tmp/err" || { fail "stderr lacks '$1':"; cat "$tmp/err"; }; }
py() { "$PY" -c "$1" "$2" "${3:-}" || fail "python check failed on $2"; }

# ---- a draft, scored with the generator's own tokenizer ----
ev 0 $M --evaluator "$tmp/e" --samples 3 --seed 5 --json --save "$tmp/a.jsonl"
cp "$tmp/out" "$tmp/a.json"
py '
import json, math, sys
o = json.loads(open(sys.argv[1]).read())
for k in ("samples", "seed", "tokens", "gen_ppl", "gen_ppl_ci", "entropy", "entropy_ci",
          "distinct", "nfe", "stages", "tokens_per_s", "seconds", "evaluator", "options"):
    assert k in o, k
assert o["samples"] == 3 and o["seed"] == 5
lo, hi = o["gen_ppl_ci"]
assert lo <= o["gen_ppl"] <= hi, (lo, o["gen_ppl"], hi)
lo, hi = o["entropy_ci"]
assert lo <= o["entropy"] <= hi
assert set(o["distinct"]) == {"1", "2", "3"} and all(0 < v <= 1 for v in o["distinct"].values())
assert o["evaluator"]["retokenized"] is False and o["evaluator"]["context"] == 16
assert o["evaluator"]["stride"] == 8
assert len(o["stages"]) == 1 and o["stages"][0]["nfe"] == 31 and o["nfe"] == 31
assert o["options"]["length"] == 32 and o["options"]["block"] == 4
rows = [json.loads(l) for l in open(sys.argv[2])]
assert [r["sample"] for r in rows] == [0, 1, 2] and all(r["seed"] == 5 for r in rows)
toks = [t for r in rows for t in r["token_nll"]]
assert len(toks) == o["tokens"] == sum(r["tokens"] for r in rows)
ppl = math.exp(sum(toks) / len(toks))
assert abs(ppl - o["gen_ppl"]) < 1e-6 * ppl, (ppl, o["gen_ppl"])
for r in rows:
    assert len(r["ids"]) == 31 and r["nfe"] == [31]
    assert r["tokens"] == sum(1 for i in r["ids"] if i != 8190), r  # EOS targets left out
    assert abs(r["nll"] - sum(r["token_nll"])) < 1e-4
    c = {}
    for i in r["ids"]:
        c[i] = c.get(i, 0) + 1
    h = -sum(v / 31 * math.log(v / 31) for v in c.values())
    assert abs(h - r["entropy"]) < 1e-6
    assert len(r["distinct"]) == 3 and "eval_ids" not in r
ent = sum(r["entropy"] for r in rows) / 3
assert abs(ent - o["entropy"]) < 1e-6
' "$tmp/a.json" "$tmp/a.jsonl"
ev 0 $M --evaluator "$tmp/e" --samples 3 --seed 5 --save "$tmp/a2.jsonl"
cmp -s "$tmp/a.jsonl" "$tmp/a2.jsonl" || fail "same seed, different --save file"
grep -q "Gen PPL" "$tmp/out" || { fail "text report lacks Gen PPL"; cat "$tmp/out"; }
grep -q "distinct" "$tmp/out" || fail "text report lacks distinct-n"

# ---- a true small-block revision and threshold commit, with the sliding window ----
ev 0 $M --evaluator "$tmp/e" --samples 3 --seed 5 --revise 0.25@8 --revise-threshold 0.5 \
    --json --save "$tmp/b.jsonl"
py '
import json, sys
o = json.loads(open(sys.argv[1]).read())
s1, s2 = o["stages"]
assert s2["block"] == 8 and s2["gamma"] == 0.25 and s2["remasked"] == 8, s2
assert 1 <= s2["nfe"] <= 8 and o["options"]["revise"] == [{"gamma": 0.25, "block": 8}]
assert o["options"]["revise_mode"] == "threshold"
' "$tmp/out"

# ---- --compare ----
ev 0 --compare "$tmp/a.jsonl" "$tmp/a.jsonl" --json
py '
import json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["samples"] == 3 and o["ratio"] == 1.0 and o["ratio_ci"] == [1.0, 1.0], o
assert o["entropy_diff"] == 0.0 and o["entropy_diff_ci"] == [0.0, 0.0]
' "$tmp/out"
ev 0 --compare "$tmp/a.jsonl" "$tmp/b.jsonl" --json
py '
import json, sys
o = json.loads(open(sys.argv[1]).read())
a = json.loads(open(sys.argv[2]).read())
assert abs(o["gen_ppl_a"] - a["gen_ppl"]) < 1e-6 * a["gen_ppl"]
# the JSON carries 9 significant digits (JSON_REAL_PRECISION(9)): three numbers rounded
assert abs(o["ratio"] - o["gen_ppl_b"] / o["gen_ppl_a"]) < 2e-8 * o["ratio"]
assert o["ratio_ci"][0] <= o["ratio"] <= o["ratio_ci"][1]
' "$tmp/out" "$tmp/a.json"
ev 0 --compare "$tmp/a.jsonl" "$tmp/b.jsonl"
grep -q "ratio B/A" "$tmp/out" || fail "--compare text lacks the ratio"
ev 0 $M --evaluator "$tmp/e" --samples 3 --seed 6 --save "$tmp/c.jsonl"
ev 2 --compare "$tmp/a.jsonl" "$tmp/c.jsonl"; err_has "not generated with the same seeds"
ev 0 $M --evaluator "$tmp/e" --samples 2 --seed 5 --save "$tmp/d.jsonl"
ev 2 --compare "$tmp/a.jsonl" "$tmp/d.jsonl"; err_has "has 3 samples"
echo '{"x": 1}' >"$tmp/bad.jsonl"
ev 2 --compare "$tmp/a.jsonl" "$tmp/bad.jsonl"; err_has "line 1: expected a didcl eval --save record"
ev 1 --compare "$tmp/a.jsonl" "$tmp/none.jsonl"; err_has "--compare $tmp/none.jsonl"
ev 2 --compare "$tmp/a.jsonl"; err_has "expected two --save files"

# ---- an evaluator with another tokenizer: samples are retokenized ----
ev 0 $M --evaluator "$tmp/g" --samples 2 --seed 5 --json --save "$tmp/r.jsonl"
py '
import json, math, sys
o = json.loads(open(sys.argv[1]).read())
assert o["evaluator"]["retokenized"] is True
rows = [json.loads(l) for l in open(sys.argv[2])]
toks = [t for r in rows for t in r["token_nll"]]
assert abs(math.exp(sum(toks) / len(toks)) - o["gen_ppl"]) < 1e-6 * o["gen_ppl"]
for r in rows:
    assert "eval_ids" in r and r["tokens"] == sum(1 for i in r["eval_ids"] if i != 50256)
' "$tmp/out" "$tmp/r.jsonl"

# ---- bad inputs: exit 2 (usage) or 1 (runtime), the option named, no --save file ----
ev 2 $M --samples 2 --save "$tmp/x.jsonl"; err_has "--evaluator DIR is required"
ev 2 $M --evaluator "$tmp/m" --samples 2 --save "$tmp/x.jsonl"
err_has "--evaluator $tmp/m: a bd3lm model, expected a GPT-2 checkpoint"
ev 1 $M --evaluator "$tmp/nowhere" --samples 2 --save "$tmp/x.jsonl"; err_has "--evaluator $tmp/nowhere"
ev 2 $M --evaluator "$tmp/e" --steps 8 --save "$tmp/x.jsonl"
err_has "steps 8 exceeds block 4: at most 4 forwards per block"
ev 2 $M --evaluator "$tmp/e" --top-p 2 --save "$tmp/x.jsonl"; err_has "--top-p"
ev 2 $M --evaluator "$tmp/e" --revise 0.25@5 --save "$tmp/x.jsonl"; err_has "block 5 does not divide"
ev 2 $M --evaluator "$tmp/e" --bogus; err_has "unknown option '--bogus'"
ev 1 $M --evaluator "$tmp/e" --samples 2 --save "$tmp/nodir/x.jsonl"; err_has "--save $tmp/nodir/x.jsonl"
ls "$tmp" | grep -q '^x.jsonl\|tmp-' && { fail "a (partial) --save file was left"; ls "$tmp"; }
# a full disk while --save writes (ulimit -f: EFBIG where a full disk gives ENOSPC; the
# driver's compiler cache is warm from the runs above)
(trap '' XFSZ; ulimit -f 2; exec "$DIDCL" eval $M --evaluator "$tmp/e" --samples 8 --seed 5 \
    --save "$tmp/full.jsonl") >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "--save on a full disk exited $rc"
err_has "didcl eval: --save $tmp/full.jsonl: cannot write: File too large"
ls -a "$tmp" | grep -q 'full\.jsonl' && { fail "a (partial) --save file was left on a full disk"; ls -a "$tmp"; }

exit $failed
