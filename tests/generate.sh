#!/bin/sh
# generate.sh — `didcl generate` end to end on a tiny random BD3-LM (2 layers, hidden 64,
# vocabulary 8192, length 32, block 4) written at run time by
# `check_generate --write-model`, with models/tokenizer.json: determinism, --json
# fields and NFE per stage, --trace (revision changes only remasked positions), the
# bundled remask plugins, cached vs --no-cache, --stream, option errors (exit 2), runtime
# errors (exit 1) leaving no --trace file, and the missing-default-model message.
# Needs DIDCL and MKGEN (see tests/local.mk); python3 reads the JSON.
set -u
umask 022
: "${DIDCL:?set DIDCL to the didcl binary}"
[ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ] || { echo "SKIP: no check_generate (Check missing)"; exit 77; }
PY=$(command -v python3 || command -v /usr/bin/python3) || { echo "SKIP: python3 missing"; exit 77; }
"$DIDCL" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-generate-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

mkdir "$tmp/m" && "$MKGEN" --write-model "$tmp/m" || exit 99
M="--model $tmp/m"

# gen EXPECTED_STATUS ARGS...: run didcl generate; stdout in $tmp/out, stderr in $tmp/err.
gen() {
    want=$1; shift
    "$DIDCL" generate "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || { fail "didcl generate $* exited $got, expected $want"; cat "$tmp/err"; }
}
# err_has TEXT: stderr of the last run contains TEXT (fixed string).
err_has() { grep -qF -- "$1" "$tmp/err" || { fail "stderr lacks '$1':"; cat "$tmp/err"; }; }
# py SCRIPT FILE: run a python check on FILE; it prints FAIL lines itself.
py() { "$PY" -c "$1" "$2" || fail "python check failed on $2"; }

# ---- text, determinism ----
gen 0 $M --prompt "Hello world" --seed 1 --quiet
cp "$tmp/out" "$tmp/a1"
head -c 11 "$tmp/a1" | grep -q '^Hello world$' || fail "output does not start with the prompt: $(cat "$tmp/a1")"
[ -s "$tmp/err" ] && { fail "--quiet printed on stderr:"; cat "$tmp/err"; }
gen 0 $M --prompt "Hello world" --seed 1
cmp -s "$tmp/out" "$tmp/a1" || fail "same seed, different text"
err_has "seed 1,"
err_has "draft"
grep -Eq '^  1 +draft +4 +- +- +27 +7 ' "$tmp/err" || { fail "summary row of stage 1"; cat "$tmp/err"; }
gen 0 $M --prompt "Hello world" --seed 2 --quiet
cmp -s "$tmp/out" "$tmp/a1" && fail "seeds 1 and 2 gave the same text"
gen 0 $M --seed 3 --quiet --temperature 0
[ -s "$tmp/out" ] || fail "no text without a prompt"
gen 0 $M --seed 3 --quiet --half --prompt "Hello world"
head -c 11 "$tmp/out" | grep -q '^Hello world$' || fail "--half: $(cat "$tmp/out")"

# ---- --json: fields and NFE per stage ----
gen 0 $M --prompt "Hello world" --seed 1 --revise 0.25 --json
py '
import json, sys
o = json.loads(open(sys.argv[1]).read())
for k in ("sample", "seed", "text", "ids", "n_prompt", "length", "stages", "options", "low_entropy"):
    assert k in o, k
assert o["seed"] == 1 and o["sample"] == 0 and o["n_prompt"] == 4 and o["length"] == 32
assert len(o["ids"]) == 31 and o["ids"][:4] == [39, 508, 78, 953], o["ids"]
assert o["text"].startswith("Hello world")
s1, s2 = o["stages"]
assert s1["stage"] == 1 and s1["nfe"] == 32 - 1 - 4 and s1["store_kv"] == 7 and s1["block"] == 4
assert s1["committed"] == 27 and s1["flops"] > 0 and s1["seconds"] >= 0
assert s2["stage"] == 2 and s2["remasked"] == 7 and s2["nfe"] == 7 and s2["block"] == 32
assert s2["gamma"] == 0.25 and s2["store_kv"] == 0
op = o["options"]
assert op["length"] == 32 and op["block"] == 4 and op["mode"] == "first-hitting"
assert op["revise"] == [{"gamma": 0.25, "block": 0}] and op["kv_cache"] is True
assert op["remask"] == "lowconf", op["remask"]
' "$tmp/out"
gen 0 $M --seed 1 --samples 2 --steps 2 --revise 0.5@8 --json --quiet
py '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
a, b = (json.loads(l) for l in lines)
assert (a["sample"], b["sample"]) == (0, 1) and a["ids"] != b["ids"]
assert a["options"]["mode"] == "steps" and a["options"]["steps"] == 2
assert a["stages"][0]["nfe"] == 2 * 8   # 2 forwards per block, 8 blocks
assert a["stages"][1]["remasked"] == 16 and a["stages"][1]["block"] == 8  # round(0.5 * 31)
' "$tmp/out"

# ---- --samples N: the batched drafts give byte for byte what --sequential gives ----
gen 0 $M --prompt "Hello" --seed 9 --samples 3 --revise 0.25 --trace "$tmp/bt.csv" --quiet
cp "$tmp/out" "$tmp/batched"
gen 0 $M --prompt "Hello" --seed 9 --samples 3 --revise 0.25 --trace "$tmp/st.csv" --quiet --sequential
cmp -s "$tmp/out" "$tmp/batched" || fail "--samples 3: batched and --sequential texts differ"
cmp -s "$tmp/bt.csv" "$tmp/st.csv" || fail "--samples 3: batched and --sequential traces differ"
[ "$(grep -c -- '--- sample' "$tmp/batched")" -eq 3 ] || fail "--samples 3: $(cat "$tmp/batched")"
gen 0 $M --prompt "Hello" --seed 9 --samples 3 --revise 0.25 --quiet --batch 2 --threshold 0.2
cp "$tmp/out" "$tmp/batched"
gen 0 $M --prompt "Hello" --seed 9 --samples 3 --revise 0.25 --quiet --sequential --threshold 0.2
cmp -s "$tmp/out" "$tmp/batched" || fail "--batch 2 --threshold: batched and --sequential texts differ"
gen 0 $M --seed 9 --samples 2;      err_has "2 samples (drafts in batches of 2) of 32 tokens"
gen 0 $M --seed 9 --samples 2 --stream; err_has "2 samples of 32 tokens"

# ---- --trace: records; revision changes only remasked positions ----
gen 0 $M --prompt "Hello world" --seed 5 --json --quiet
cp "$tmp/out" "$tmp/draft.json"
gen 0 $M --prompt "Hello world" --seed 5 --revise 0.25 --trace "$tmp/t.jsonl" --quiet
[ -f "$tmp/t.jsonl" ] || fail "no trace file"
ls -a "$tmp" | grep -q 'tmp-' && fail "a temporary trace file was left behind"
# an ordinary file's mode (umask 022: 0644, not mkstemp's 0600)
[ "$(stat -c %a "$tmp/t.jsonl")" = 644 ] || fail "trace mode $(stat -c %a "$tmp/t.jsonl"), expected 644"
# a FIFO stays a FIFO and its reader gets the whole trace
mkfifo "$tmp/fifo" && {
    cat "$tmp/fifo" >"$tmp/fifo.out" &
    reader=$!
    gen 0 $M --prompt "Hello world" --seed 5 --revise 0.25 --trace "$tmp/fifo" --quiet
    wait $reader
    [ -p "$tmp/fifo" ] || fail "--trace replaced a FIFO by a regular file"
    cmp -s "$tmp/fifo.out" "$tmp/t.jsonl" || fail "--trace into a FIFO: a different trace"
    rm -f "$tmp/fifo"
}
"$PY" -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
draft = [json.loads(open(sys.argv[2]).read())["ids"]][0]
assert len(recs) == 32, len(recs)
keys = {"sample", "position", "token", "text", "confidence", "entropy", "margin", "stage",
        "block", "step", "nfe", "locked", "draft_token", "remasked"}
assert set(recs[0]) == keys, set(recs[0]) ^ keys
assert [r["position"] for r in recs] == list(range(32))
assert all(r["locked"] for r in recs[:5]) and not any(r["locked"] for r in recs[5:])
assert recs[1]["text"] == "H" and recs[2]["text"] == "ell" and recs[1]["stage"] == 0 and recs[1]["nfe"] == -1
rem = [r for r in recs if r["remasked"]]
assert len(rem) == 7 and all(r["remasked"] == [2] and r["stage"] == 2 for r in rem)
for r in recs[1:]:
    assert r["draft_token"] == draft[r["position"] - 1], r      # stage 1 = the no-revise run
    if not r["remasked"]:
        assert r["token"] == r["draft_token"], r
    assert 0 <= r["confidence"] <= 1
# the lowest-confidence drafts were the ones remasked (lowconf); confidences are of stage 1
' "$tmp/t.jsonl" "$tmp/draft.json" || fail "trace check"
gen 0 $M --seed 5 --revise 0.25 --revise 0.5 --trace "$tmp/t.csv" --quiet
head -1 "$tmp/t.csv" | grep -qx 'sample,position,token,text,confidence,entropy,margin,stage,block,step,nfe,locked,draft_token,remasked_2,remasked_3' \
    || fail "CSV header: $(head -1 "$tmp/t.csv")"
[ "$(wc -l <"$tmp/t.csv")" -eq 33 ] || fail "CSV rows: $(wc -l <"$tmp/t.csv")"

# ---- remask plugins, with the seed reaching the plugin's generator ----
for spec in lowconf entropy random "span:len=4" learned; do
    gen 0 $M --seed 9 --revise 0.25 --remask "$spec" --json --quiet
    cp "$tmp/out" "$tmp/p1"
    gen 0 $M --seed 9 --revise 0.25 --remask "$spec" --json --quiet
    "$PY" -c '
import json, sys
a, b = (json.loads(open(f).read()) for f in sys.argv[1:3])
assert a["stages"][1]["remasked"] == 8 and a["stages"][1]["nfe"] == 8, a   # round(0.25 * 31)
assert a["ids"] == b["ids"], "same seed, different tokens"
assert a["options"]["remask"] == sys.argv[3].split(":")[0], a["options"]["remask"]
' "$tmp/out" "$tmp/p1" "$spec" || fail "--remask $spec"
done
gen 0 $M --seed 9 --revise 0.25 --remask random --trace "$tmp/r1.jsonl" --quiet
gen 0 $M --seed 10 --revise 0.25 --remask random --trace "$tmp/r2.jsonl" --quiet
"$PY" -c '
import json, sys
sel = [[r["position"] for r in map(json.loads, open(f)) if r["remasked"]] for f in sys.argv[1:]]
assert sel[0] != sel[1], sel
# pinned: the positions generate chose when it fed the plugin Philox at {seed, PLUGIN,
# sample, 0, stage, 0} itself (before the remask handle drew it); they depend only on the
# seed, the length and the prompt, not on the model
assert sel[0] == [2, 17, 19, 22, 25, 28, 30, 31], sel[0]
assert sel[1] == [4, 9, 13, 14, 20, 26, 30, 31], sel[1]
' "$tmp/r1.jsonl" "$tmp/r2.jsonl" || fail "random plugin: seeds 9 and 10: positions changed"

# ---- cached vs uncached ----
gen 0 $M --prompt "Hello world" --seed 4 --revise 0.25 --quiet
cp "$tmp/out" "$tmp/c1"
gen 0 $M --prompt "Hello world" --seed 4 --revise 0.25 --no-cache --quiet
cmp -s "$tmp/out" "$tmp/c1" || fail "--no-cache changed the text"

# ---- --stream: prompt and draft as blocks finish, then the revised text ----
gen 0 $M --prompt "Hello world" --seed 4 --quiet
cp "$tmp/out" "$tmp/p4"
gen 0 $M --prompt "Hello world" --seed 4 --stream --quiet
cmp -s "$tmp/out" "$tmp/p4" || fail "--stream without revision differs from the plain text"
gen 0 $M --prompt "Hello world" --seed 4 --stream --revise 0.25 --quiet
grep -qx -- '--- revised ---' "$tmp/out" || { fail "--stream: no revised section"; cat "$tmp/out"; }
tail -1 "$tmp/out" | cmp -s - "$tmp/c1" || fail "--stream: revised text differs from plain output"
gen 0 $M --prompt "Hello world" --seed 4 --visual
cmp -s "$tmp/out" "$tmp/p4" || fail "--visual on a non-terminal is not the plain text"
err_has "stdout is not a terminal"
grep -q "$(printf '\033')" "$tmp/out" && fail "--visual wrote escape codes to a non-terminal"

# --visual on a terminal (script(1) gives it a pseudo-terminal): the alternate screen is
# entered and left, masks are drawn, and the final text stays on the normal screen.
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
    script -qec "stty cols 50 rows 10 2>/dev/null; '$DIDCL' generate $M --prompt 'Hello world' --seed 4 --revise 0.25 --visual --quiet" \
        /dev/null >"$tmp/vis" 2>&1 </dev/null
    esc=$(printf '\033')
    grep -q "$esc\[?1049h" "$tmp/vis" || fail "--visual: alternate screen not entered"
    grep -q "$esc\[?1049l" "$tmp/vis" || fail "--visual: alternate screen not left"
    grep -q "$(printf '\342\226\221')" "$tmp/vis" || fail "--visual: no mask placeholder drawn"
    tr -d '\r' <"$tmp/vis" | sed "s/.*$esc\[?1049l//" | grep -qxF "$(cat "$tmp/c1")" \
        || { fail "--visual: final text missing"; cat -v "$tmp/vis" | tail -c 400; }
else
    echo "note: --visual on a terminal not checked (no pseudo-terminal here)"
fi

# ---- usage errors: exit 2, one line naming the option ----
gen 2 $M --revise 1.5;               err_has "--revise 1.5: gamma 1.5 outside [0, 1]"
gen 2 $M --revise -0.1;              err_has "gamma -0.1 outside [0, 1]"
gen 2 $M --revise 0.2@5;             err_has "revise 0.2@5: block 5 does not divide length 32"
gen 2 $M --block 5;                  err_has "block 5 does not divide length 32"
gen 2 $M --length 64;                err_has "length 64 exceeds the model's length 32"
gen 2 $M --steps 2 --threshold 0.9;  err_has "--steps and --threshold are exclusive"
gen 2 $M --remask nosuchplugin --revise 0.2; err_has "remask nosuchplugin:"
gen 2 $M --remask "span:len=0" --revise 0.2; err_has "remask span:len=0:"
gen 2 $M --top-p 0;                  err_has "--top-p: 0 outside (0, 1]"
gen 2 $M --temperature -1;           err_has "--temperature: -1 is negative"
gen 2 $M --threshold 1.5;            err_has "--threshold: 1.5 outside (0, 1]"
gen 2 $M --length abc;               err_has "--length: 'abc' is not an integer"
gen 2 $M --samples 0;                err_has "--samples: '0' is not an integer in [1,"
gen 2 $M --batch 65;                 err_has "--batch: '65' is not an integer in [1, 64]"
gen 2 $M --seed -3;                  err_has "--seed: '-3' is not an unsigned 64-bit integer"
gen 2 $M --stream --visual;          err_has "--stream and --visual are exclusive"
gen 2 $M --json --stream;            err_has "--json replaces the text output: not with --stream"
gen 2 $M --prompt a --prompt-file b; err_has "--prompt and --prompt-file are exclusive"
gen 2 $M --nosuch;                   err_has "unknown option '--nosuch'"
gen 2 $M --length;                   err_has "--length needs a value"
gen 2 $M --length 8 --prompt "one two three four five six seven eight"; err_has "too long for length 8"
gen 2 $M --prompt "[MASK]";          err_has "is the mask token"
gen 0 $M --prompt "[MASK]" --no-special --seed 1 --quiet  # plain text then
gen 2 $M -zz;                        err_has "unknown option '-z'"
gen 2 $M --top-p nan;                err_has "--top-p: 'nan' is not a finite number"
gen 2 $M --revise "0.25@$(printf '4%.0s' $(seq 1 150))"; err_has "is 155 bytes, expected GAMMA[@BLOCK]"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "a usage error printed more than one line"
gen 0 --help;                        grep -q -- '--revise G\[@B\]' "$tmp/out" || fail "--help"

# ---- a full disk while the trace is written (ulimit -f: writes fail with EFBIG where a
# full disk gives ENOSPC; the first run warms the driver's compiler cache, whose LLVM
# would otherwise exit on its own failed write) ----
gen 0 $M --seed 1 --quiet --samples 4 --trace "$tmp/warm.jsonl"
(trap '' XFSZ; ulimit -f 8; exec "$DIDCL" generate $M --seed 1 --quiet --samples 4 \
    --trace "$tmp/full.jsonl") >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "a trace on a full disk exited $rc"
err_has "didcl: --trace $tmp/full.jsonl: cannot write: File too large"
ls -a "$tmp" | grep -q 'full\.jsonl' && { fail "a (partial) trace file was left on a full disk"; ls -a "$tmp"; }
"$DIDCL" generate $M --seed 1 --quiet >/dev/full 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "generate >/dev/full exited $rc"
err_has "cannot write"

# ---- runtime errors: exit 1, and no --trace file ----
gen 1 --model "$tmp/nope";           err_has "$tmp/nope"
gen 1 $M --prompt-file "$tmp/nope";  err_has "--prompt-file $tmp/nope: cannot read"
gen 1 $M --trace "$tmp/t2.jsonl" --device no-such-device-xyz
err_has "no-such-device-xyz"
[ -e "$tmp/t2.jsonl" ] && fail "a trace file after a device error"
if [ -n "${TEST_PLUGINS_DIR:-}" ] && [ -f "$TEST_PLUGINS_DIR/didcl-remask-misbehave.so" ]; then
    gen 1 $M --seed 1 --revise 0.25 --plugin-path "$TEST_PLUGINS_DIR" --remask misbehave:mode=dup \
        --trace "$tmp/t3.jsonl"
    err_has "remask selection (stage 2)"
    [ -e "$tmp/t3.jsonl" ] && fail "a trace file after a plugin error"
fi
ls -a "$tmp" | grep -q 'tmp-' && fail "a temporary trace file was left behind after errors"
gen 1 $M --trace "$tmp/nodir/t.jsonl"; err_has "--trace $tmp/nodir/t.jsonl: cannot create a file there"

# ---- the default model ----
# A copy of the program outside the build tree looks only in the installed data dir.
installed=unknown
bindir=$(dirname "$DIDCL")
for real in "$bindir/.libs/didcl" "$bindir/.libs/lt-didcl"; do
    [ -x "$real" ] && break
done
if [ -x "$real" ]; then
    mkdir "$tmp/bin" && cp "$real" "$tmp/bin/didcl"
    LD_LIBRARY_PATH="$bindir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$tmp/bin/didcl" generate --length 8 >"$tmp/out" 2>"$tmp/err"
    st=$?
    if grep -q "no default model" "$tmp/err"; then
        installed=no
        [ "$st" -eq 1 ] || fail "missing default model exited $st, expected 1"
        err_has "no config.json in "
        err_has "pass --model DIR"
    elif [ "$st" -ne 0 ]; then
        fail "installed-layout run exited $st:"; cat "$tmp/err"
    fi # else a default model is installed on this machine
fi
# The build-tree program uses the source tree's models/default when it is there.
if [ -f "${DIDCL_TOP_SRCDIR:-.}/models/default/config.json" ]; then
    gen 0 --length 16 --seed 1 --quiet
    [ -s "$tmp/out" ] || fail "the default model generated nothing"
elif [ "$installed" = no ]; then
    gen 1 --length 16
    err_has "no default model: no config.json in ${DIDCL_TOP_SRCDIR:-.}/models/default or "
fi

exit $failed
