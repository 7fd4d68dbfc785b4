#!/bin/sh
# inspect.sh — `didcl inspect` end to end on model directories built at run time by
# `check_modelfiles --write-model`: exit codes, summary lines, --tensors, --json, and
# one-line errors (exit 1) for a corrupt and a mismatched checkpoint.
# Needs DIDCL (the didcl binary) and MKMODEL (tests/check_modelfiles); see tests/local.mk.
set -u
: "${DIDCL:?set DIDCL to the didcl binary}" "${MKMODEL:?set MKMODEL to tests/check_modelfiles}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-inspect-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() { echo "FAIL: $*"; failed=1; }

# expect_line FILE REGEX: some line of FILE matches the extended regex.
expect_line() { grep -Eq -- "$2" "$1" || { fail "no line matching '$2' in:"; cat "$1"; }; }

# run EXPECTED_STATUS ARGS...: run didcl inspect, output in $tmp/out, errors in $tmp/err.
run() {
    want=$1; shift
    "$DIDCL" inspect "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || { fail "didcl inspect $* exited $got, expected $want"; cat "$tmp/err"; }
}

mkdir "$tmp/bd3" "$tmp/gpt2" "$tmp/shard" "$tmp/bad" "$tmp/mism" || exit 99
"$MKMODEL" --write-model "$tmp/bd3" bd3lm || exit 99
"$MKMODEL" --write-model "$tmp/gpt2" gpt2 || exit 99
"$MKMODEL" --write-model "$tmp/shard" bd3lm-sharded || exit 99

# a valid BD3-LM: summary lines (131780 parameters, counted by hand in check_modelfiles.c)
run 0 --model "$tmp/bd3"
expect_line "$tmp/out" '^arch: +bd3lm$'
expect_line "$tmp/out" '^layers: +2$'
expect_line "$tmp/out" '^hidden: +64$'
expect_line "$tmp/out" '^heads: +4 \(head dim 16\)$'
expect_line "$tmp/out" '^vocab: +100$'
expect_line "$tmp/out" '^context length: +32$'
expect_line "$tmp/out" '^block size: +4$'
expect_line "$tmp/out" '^time conditioning: +off$'
expect_line "$tmp/out" '^mask id: +99$'
expect_line "$tmp/out" '^bos id: +98$'
expect_line "$tmp/out" '^eos id: +98$'
expect_line "$tmp/out" '^sampling eps: +0\.25\.\.0\.75 \(from checkpoint\)$'
expect_line "$tmp/out" '^parameters: +131780 '
expect_line "$tmp/out" '^dtype: +F32$'
expect_line "$tmp/out" '^files: +1$'
expect_line "$tmp/out" '^tensors: +33 '
[ -s "$tmp/err" ] && { fail "unexpected stderr:"; cat "$tmp/err"; }

run 0 --model "$tmp/bd3" --tensors
expect_line "$tmp/out" '^backbone\.blocks\.1\.attn_qkv\.weight +F32 +\[192, 64\] +49152$'
expect_line "$tmp/out" '^sampling_eps_min +F32 +\[\] +4$'

run 0 --model "$tmp/bd3" --json --tensors
expect_line "$tmp/out" '"parameters": 131780,'
expect_line "$tmp/out" '"arch": "bd3lm",'
expect_line "$tmp/out" '"name": "backbone.vocab_embed.embedding",'

# GPT-2 layout and a sharded checkpoint
run 0 --model "$tmp/gpt2"
expect_line "$tmp/out" '^arch: +gpt2$'
expect_line "$tmp/out" '^parameters: +114944 '
expect_line "$tmp/out" '^mask id: +none$'
run 0 --model "$tmp/shard"
expect_line "$tmp/out" '^files: +2$'
expect_line "$tmp/out" '^parameters: +131780 '

# a corrupt file: exit 1 and the one-line error
cp "$tmp/bd3/config.json" "$tmp/bad/" && head -c 5 "$tmp/bd3/model.safetensors" >"$tmp/bad/model.safetensors"
run 1 --model "$tmp/bad"
expect_line "$tmp/err" '^didcl: .*/bad/model\.safetensors: file is 5 bytes, shorter than the 8-byte header length field$'
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "error is not one line"
[ -s "$tmp/out" ] && fail "output on error"

# weights that disagree with config.json
cp "$tmp/bd3/model.safetensors" "$tmp/mism/" &&
    sed 's/"hidden_dim": 64/"hidden_dim": 32/' "$tmp/bd3/config.json" >"$tmp/mism/config.json"
run 1 --model "$tmp/mism"
expect_line "$tmp/err" "tensor 'backbone.vocab_embed.embedding' has shape \[100, 64\], config.json implies \[100, 32\]"

# usage errors
run 2
run 1 --model "$tmp/nonexistent"
expect_line "$tmp/err" 'No such file or directory'

exit $failed
