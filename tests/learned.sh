#!/bin/sh
# learned.sh — the learned remask plugin: loads by name with its bundled weights (file and
# built-in), picks what tools/train-remask's Python copy of its features and model picks,
# rejects malformed weights files with a reason naming the file and what was expected, and
# the trainer reproduces the bundled weights byte for byte from the tracked dataset.
set -u
didcl=${DIDCL:-./didcl}
build=${DIDCL_TOP_BUILDDIR:-.}
src=${DIDCL_TOP_SRCDIR:-.}
fail() { echo "FAIL: $*"; exit 1; }
unset DIDCL_PLUGIN_PATH
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
weights=$src/plugins/learned.safetensors

out=$("$didcl" plugins --plugin-path "$build/plugins/.libs" --try learned --n 64 --count 10) \
    || fail "--try learned exited $?: $out"
file=$(echo "$out" | sed -n 's/^selected (10): //p')
[ -n "$file" ] || fail "--try learned: $out"
# the built-in copy (no file on the path: an empty directory first, DIDCL_PLUGIN_PATH unset)
out=$("$didcl" plugins --plugin-path "$tmp" --try learned:weights="$weights" --n 64 --count 10) \
    || fail "--try learned:weights= exited $?: $out"
[ "$(echo "$out" | sed -n 's/^selected (10): //p')" = "$file" ] \
    || fail "weights=PATH of the bundled file selects otherwise: $out / $file"

# corrupt NAME PYTHON: write $tmp/NAME.safetensors from the bundled file, changed by PYTHON
# (h: the header dict, data: the tensor bytes, out: the bytes written).
corrupt() {
    python3 - "$weights" "$tmp/$1.safetensors" "$2" <<'PY'
import json, struct, sys
buf = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", buf[:8])[0]
h, data = json.loads(buf[8:8 + n]), buf[8 + n:]
out = None
exec(sys.argv[3])
if out is None:
    hb = json.dumps(h).encode()
    out = struct.pack("<Q", len(hb)) + hb + data
open(sys.argv[2], "wb").write(out)
PY
}
# rejects NAME TEXT: loading $tmp/NAME.safetensors fails, naming the file and saying TEXT.
rejects() {
    msg=$("$didcl" plugins --try "learned:weights=$tmp/$1.safetensors" 2>&1) && fail "$1 accepted"
    echo "$msg" | grep -qF "$tmp/$1.safetensors" || fail "$1: the message does not name the file: $msg"
    echo "$msg" | grep -qF -- "$2" || fail "$1: expected '$2' in: $msg"
}
if command -v python3 >/dev/null; then
    corrupt version 'h["__metadata__"]["format_version"] = "2"'
    rejects version "format_version '2'; this plugin reads version 1"
    corrupt format 'h["__metadata__"]["format"] = "other"'
    rejects format "metadata format 'other'; expected 'didcl-remask-learned'"
    corrupt nofeature 'm = h["__metadata__"]; m["features"] = m["features"].replace("margin,", "")'
    rejects nofeature "feature 'margin' is missing; expected features conf,log_conf,"
    corrupt order 'm = h["__metadata__"]; f = m["features"].split(","); f[0], f[1] = f[1], f[0]; m["features"] = ",".join(f)'
    rejects order "are not this plugin's; expected exactly conf,log_conf,"
    corrupt shape 'h["b1"]["shape"] = [h["b1"]["shape"][0] + 1]'
    rejects shape "tensor 'b1' has the wrong shape; expected ["
    corrupt dtype 'h["w2"]["dtype"] = "F16"'
    rejects dtype "tensor 'w2' has dtype 'F16'; expected F32"
    corrupt notensor 'del h["scale"]'
    rejects notensor "tensor 'scale' is missing"
    corrupt truncated 'out = buf[:len(buf) - 4]'
    rejects truncated "truncated: tensor"
    corrupt short 'out = buf[:5]'
    rejects short "truncated (5 bytes)"
    corrupt notjson 'out = struct.pack("<Q", 4) + b"[1] "'
    rejects notjson "header is not a JSON object"
fi
msg=$("$didcl" plugins --try "learned:weights=$tmp/none.safetensors" 2>&1) && fail "a missing file was accepted"
echo "$msg" | grep -qF "weights $tmp/none.safetensors: cannot open" || fail "missing file: $msg"
msg=$("$didcl" plugins --try learned:weight=x 2>&1) && fail "a bad option was accepted"
echo "$msg" | grep -qF "unknown option 'weight'; expected weights=PATH" || fail "bad option: $msg"

# The trainer (numpy): same selection as the C plugin, and the bundled weights again.
if python3 "$src/tools/train-remask" --help >/dev/null 2>&1; then
    py=$(python3 "$src/tools/train-remask" --out "$weights" --try 64 10) || fail "train-remask --try"
    [ "$py" = "$file" ] || fail "C selects '$file', the trainer's Python copy '$py'"
    big=$("$didcl" plugins --try learned --n 300 --count 70 | sed -n 's/^selected (70): //p')
    py=$(python3 "$src/tools/train-remask" --out "$weights" --try 300 70)
    [ "$py" = "$big" ] || fail "n 300: C selects '$big', Python '$py'"
    python3 "$src/tools/train-remask" --dataset "$src/plugins/learned-data.csv.gz" \
        --out "$tmp/retrained.safetensors" >"$tmp/train.log" 2>&1 || fail "train-remask: $(cat "$tmp/train.log")"
    cmp -s "$tmp/retrained.safetensors" "$weights" \
        || fail "train-remask --dataset plugins/learned-data.csv.gz does not reproduce $weights"
else
    echo "no numpy: the trainer's checks skipped"
fi
echo "learned: ok"
