#!/bin/sh
# cli_reliability.sh — the CLI on hostile input (issue 17): option values that used to
# wrap (score --samples -1), unknown options, a FIFO as config.json, a tiny config.json
# with huge sizes, NaN sampling eps in a checkpoint, non-UTF-8 model paths under --json,
# and [MASK] in a text to score. Each must end in one clear line and exit 1 or 2, or in
# valid JSON; never a crash or a hang.
# Needs DIDCL, MKMODEL and MKGEN (see tests/local.mk); python3 reads the JSON.
set -u
: "${DIDCL:?set DIDCL to the didcl binary}" "${MKMODEL:?set MKMODEL}"
PY=$(command -v python3 || command -v /usr/bin/python3) || { echo "SKIP: python3 missing"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-reliab-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# run EXPECTED_STATUS ARGS...: didcl ARGS with stdin from $tmp/in, a 60 s limit;
# stdout in $tmp/out, stderr in $tmp/err.
: >"$tmp/in"
run() {
    want=$1; shift
    timeout 60 "$DIDCL" "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || { fail "didcl $* exited $got, expected $want"; cat "$tmp/err"; }
}
err_has() { grep -qF -- "$1" "$tmp/err" || { fail "stderr lacks '$1':"; cat "$tmp/err"; }; }
one_line() { [ "$(wc -l <"$tmp/err")" -eq 1 ] || { fail "stderr is not one line:"; cat "$tmp/err"; }; }
# valid JSON on stdout, and python's assertion $1 on it as `o`
json_ok() {
    "$PY" -c "import json,sys; o=json.load(open(sys.argv[1])); assert $1, o" "$tmp/out" ||
        { fail "bad JSON output:"; cat "$tmp/out"; }
}

# ---- option values and unknown options ----
run 2 score --model "$tmp" --samples -1
err_has "didcl score: --samples: '-1' is not an integer in [1, 1048576]"
run 2 score --model "$tmp" --block -1
err_has "didcl score: --block: '-1' is not an integer in [1, 2147483647]"
run 2 score --model "$tmp" --seed -3
err_has "didcl score: --seed: '-3' is not an unsigned 64-bit integer"
run 2 score --model "$tmp" --samples 99999999999999999999
err_has "is not an integer in [1, 1048576]"
run 2 score --model "$tmp" --eps nan
err_has "didcl score: --eps: 'nan' is not a number in [0, 1]"
for cmd in score inspect tokenize devices; do
    run 2 $cmd --bogus
    err_has "didcl $cmd: unknown option '--bogus' (didcl $cmd --help lists them)"
    one_line
done
run 2 inspect --model
err_has "didcl inspect: --model needs a value"
# a newline typed into a value is echoed escaped: the message stays one line
run 2 score --model "$tmp" --samples "$(printf '1\n2')"
err_has "didcl score: --samples: '1\x0a2' is not an integer in [1, 1048576]"
one_line
run 2 score --ids --no-special --model "$tmp"
err_has "--no-special applies to text, not to --ids"

# ---- model directories ----
mkdir "$tmp/bd3" "$tmp/fifo" "$tmp/big" "$tmp/nan" || exit 99
"$MKMODEL" --write-model "$tmp/bd3" bd3lm || exit 99

# a FIFO as config.json: refused at once, not a hang
cp "$tmp/bd3/model.safetensors" "$tmp/fifo/" && mkfifo "$tmp/fifo/config.json" || exit 99
run 1 inspect --model "$tmp/fifo"
err_has "config.json: not a regular file"

mkfifo "$tmp/tok.json" || exit 99
run 1 tokenize --tokenizer "$tmp/tok.json"
err_has "tok.json: not a regular file, expected tokenizer.json"

# 200 bytes asking for 2^30 layers: fails at once, naming the key and the limit
printf '{"model_type": "bd3lm", "n_blocks": 1073741824, "hidden_dim": 64, "n_heads": 4, "cond_dim": 16, "vocab_size": 100, "model_length": 32, "block_size": 4}' >"$tmp/big/config.json"
cp "$tmp/bd3/model.safetensors" "$tmp/big/"
run 1 inspect --model "$tmp/big"
err_has "key 'n_blocks' is 1073741824, expected 1..1024"

# NaN / Inf in the checkpoint's sampling_eps tensors (4 bytes changed)
for v in nan inf; do
    cp "$tmp/bd3/config.json" "$tmp/nan/"
    "$PY" - "$tmp/bd3/model.safetensors" "$tmp/nan/model.safetensors" "$v" <<'PY' || exit 99
import json, struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", b[:8])[0]
start = json.loads(b[8:8 + n])["sampling_eps_max"]["data_offsets"][0] + 8 + n
b[start:start + 4] = struct.pack("<f", float(sys.argv[3]))
open(sys.argv[2], "wb").write(b)
PY
    run 1 inspect --model "$tmp/nan" --json
    err_has "tensor 'sampling_eps_max' is $v, expected 0..1"
    one_line
done

# a model path that is not UTF-8: the JSON carries U+FFFD instead
bad=$(printf "$tmp/bad\377dir")
cp -r "$tmp/bd3" "$bad" || exit 99
run 0 inspect --model "$bad" --json --tensors
json_ok 'o["model"].endswith("bad\ufffddir") and o["tensors"][0]["file"].startswith(o["model"])'

# ---- score (needs a device and check_generate's model with its tokenizer) ----
if [ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ] && "$DIDCL" devices >/dev/null 2>&1; then
    mkdir "$tmp/g" && "$MKGEN" --write-model "$tmp/g" || exit 99
    printf 'Hello [MASK] world' >"$tmp/in"
    run 1 score --model "$tmp/g" --json
    err_has "didcl score: token 4 of stdin (id 8191) is the mask token, which a text to score cannot hold"
    one_line
    [ -s "$tmp/out" ] && fail "score printed output with [MASK] in the text"
    run 0 score --model "$tmp/g" --json --no-special --samples 2
    json_ok 'o["tokens"] > 6 and o["nll"] > 0'
    printf '5 8191 7' >"$tmp/in"
    run 1 score --model "$tmp/g" --ids
    err_has "token 1 of stdin (id 8191) is the mask token"
    bad=$(printf "$tmp/g\377")
    cp -r "$tmp/g" "$bad" || exit 99
    printf 'Hello world' >"$tmp/in"
    run 0 score --model "$bad" --json --samples 2
    json_ok 'o["model"].endswith("g\ufffd") and o["nll"] > 0'

    # More samples drafted together than the device holds: refused before any
    # allocation, with the numbers (the tiny model with a 2^20-token context needs about
    # 110 GiB for 64 sequences; skipped on a device that has that much).
    mkdir "$tmp/long" && cp "$tmp/g/"* "$tmp/long/" || exit 99
    "$PY" -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); c["model_length"]=1<<20; json.dump(c,open(p,"w"))' \
        "$tmp/long/config.json" || exit 99
    mem=$("$DIDCL" devices --json | "$PY" -c 'import json,sys; print([d["global_mem"] for d in json.load(sys.stdin) if d.get("default")][0])')
    if [ "$mem" -lt $((100 << 30)) ]; then
        # found before anything runs (didcl_session_prepare), an argument error: exit 2
        : >"$tmp/in"
        run 2 generate --model "$tmp/long" --length 1048576 --samples 64 --batch 64 --quiet --prompt Hi
        err_has "the model needs 109.53 GiB of device memory (weights 0.00, KV cache 64.00 for 64 sequences of 1048576 tokens, activations 45.52) but"
        err_has "lower the batch (--batch)"
        one_line
    fi
else
    echo "no device or no check_generate: score cases skipped"
fi

exit $failed
