#!/bin/sh
# example_generate.sh — examples/generate (public API only) prints the same text as
# `didcl generate` for the same model, prompt, seed, revision and remask strategy.
set -u
build=${DIDCL_TOP_BUILDDIR:?}
didcl=${DIDCL:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; failed=1; }
failed=0
[ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ] || { echo "SKIP: no check_generate (Check missing)"; exit 77; }
"$didcl" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }
mkdir "$tmp/m" && "$MKGEN" --write-model "$tmp/m" || exit 99
ex="$build/examples/generate"
for case in "5 lowconf Hello world" "6 random Once upon a time" "7 span:len=2 The river"; do
    set -- $case
    seed=$1 remask=$2
    shift 2
    prompt="$*"
    "$ex" -m "$tmp/m" -n 32 -s "$seed" -r "$remask" "$prompt" >"$tmp/ex.out" 2>"$tmp/ex.err" \
        || { fail "examples/generate exited $?"; cat "$tmp/ex.err"; continue; }
    "$didcl" generate --model "$tmp/m" --length 32 --seed "$seed" --revise 0.25 \
        --remask "$remask" --prompt "$prompt" --quiet >"$tmp/cli.out" 2>"$tmp/cli.err" \
        || { fail "didcl generate exited $?"; cat "$tmp/cli.err"; continue; }
    cmp -s "$tmp/ex.out" "$tmp/cli.out" || { fail "seed $seed $remask: the example's text differs";
        cat "$tmp/ex.out" "$tmp/cli.out"; }
    # the draft streamed to stderr, then the revision's summary line
    grep -q '^\[draft [0-9]* NFE, revision remasked [0-9]*\]$' "$tmp/ex.err" \
        || fail "seed $seed: no stream/summary on stderr: $(cat "$tmp/ex.err")"
done
# a bad remask spec: an error naming it, exit 1
"$ex" -m "$tmp/m" -n 32 -r nosuchplugin x >"$tmp/ex.out" 2>"$tmp/ex.err" && fail "bad plugin accepted"
grep -q 'remask nosuchplugin' "$tmp/ex.err" || fail "bad plugin message: $(cat "$tmp/ex.err")"
exit $failed
