#!/bin/sh
# fuzz.sh — build the libFuzzer targets of tests/fuzz/ (clang, with ASan and UBSan) in a
# copy of this tree and run each for a fixed time from seed corpora made of tests/data
# and the bundled models. Prints one line per target (executions, coverage, corpus) and
# writes the table to BUILD_DIR/fuzz-report.md; exits 1 when any target found a crash,
# a leak or a broken oracle (the reproducer is saved as BUILD_DIR/fuzz/<target>/crash-*).
#
#     tools/fuzz.sh [-t SECONDS] [-d BUILD_DIR] [TARGET...]
#         -t  seconds per target (default 60)      -d  default ${TMPDIR:-/tmp}/didcl-fuzz
#         TARGET: safetensors index config tokenizer_load tokenizer_codec remask_spec
#                 cli_options (default: all)
#     tools/fuzz.sh -d BUILD_DIR -r TARGET FILE...   re-run inputs (a crash reproducer)
#
# Needs clang with compiler-rt's libFuzzer (Debian: clang, libclang-rt-dev or the
# clang package's own runtime) and a configured-tree's dependencies (pkg-config).
# Corpora grow in BUILD_DIR/fuzz/<target>/corpus across runs.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
secs=60 build=${TMPDIR:-/tmp}/didcl-fuzz rerun=
while getopts t:d:r: o; do
    case $o in
    t) secs=$OPTARG ;;
    d) build=$OPTARG ;;
    r) rerun=$OPTARG ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
all="safetensors index config tokenizer_load tokenizer_codec remask_spec cli_options"
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (apt-get install clang)" >&2; exit 2; }

"$src/tools/copy-tree.sh" "$src" "$build"
cd "$build"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
[ -x configure ] || autoreconf -fi >/dev/null
[ -f Makefile ] || ./configure -q CC="$CC" CFLAGS="-O1 -g $san -fsanitize=fuzzer-no-link" \
    LDFLAGS="$san" --disable-shared >/dev/null
make -j"${JOBS:-2}" libdidcl-internal.la >/dev/null

# Link each target with the library's objects; the CLI target with the CLI's parsers.
libs="$(pkg-config --libs OpenCL clblast jansson libpcre2-8) -lm -ldl -lpthread"
flags="-O1 -g $san -fsanitize=fuzzer -I. -Iinclude -Isrc -Itests/fuzz"
mkdir -p fuzz
for t in $all; do
    extra=
    [ "$t" = cli_options ] && extra="src/cli/genopts.c src/cli/parse.c src/cli/json.c src/cli/io.c"
    out=fuzz/fuzz_$t
    if [ ! -x "$out" ] || [ -n "$(find tests/fuzz src include .libs -newer "$out" -name '*.[cha]' | head -1)" ]; then
        # shellcheck disable=SC2086
        "$CC" $flags -o "$out" "tests/fuzz/fuzz_$t.c" tests/fuzz/fuzzutil.c $extra \
            .libs/libdidcl-internal.a $libs
    fi
done

export DIDCL_FUZZ_DATA="$build/tests/data" DIDCL_CACHE_DIR=off
unset DIDCL_PLUGIN_PATH
ASAN_OPTIONS="detect_leaks=1:detect_odr_violation=0"
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
LSAN_OPTIONS="suppressions=$src/tools/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

if [ -n "$rerun" ]; then
    exec "fuzz/fuzz_$rerun" "$@"
fi

# ---- seed corpora, from tests/data and the bundled models ----
seed() { mkdir -p "fuzz/$1/seeds"; printf '%s' "$3" >"fuzz/$1/seeds/$2"; }
python3 - "$build" <<'PY'
import json, struct, sys, os
b = sys.argv[1]
def out(t, name, data):
    d = os.path.join(b, "fuzz", t, "seeds"); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)
def st(header, data):
    h = json.dumps(header).encode(); return struct.pack("<Q", len(h)) + h + data
# safetensors: small files of every dtype, a scalar, metadata; and a real shard's header
out("safetensors", "f32", st({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, bytes(16)))
out("safetensors", "mixed", st({"__metadata__": {"format": "pt"},
    "h": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]},
    "b": {"dtype": "BF16", "shape": [], "data_offsets": [6, 8]}}, bytes(8)))
shard = os.path.join(b, "models/default/model-00001-of-00004.safetensors")
if os.path.exists(shard):
    raw = open(shard, "rb").read(1 << 16); n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n]); keep = dict(list(hdr.items())[:3])
    end = max(v["data_offsets"][1] for k, v in keep.items() if k != "__metadata__")
    if end < 4096: out("safetensors", "shard", st(keep, bytes(end)))
    else: out("safetensors", "shard-header", raw[:8 + n])
# index: the default model's, and one over this target's two shards
idx = os.path.join(b, "models/default/model.safetensors.index.json")
if os.path.exists(idx): out("index", "default", open(idx, "rb").read())
out("index", "small", json.dumps({"metadata": {"total_size": 18},
    "weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}}).encode())
# config: the bundled models', and a GPT-2 config
for m in ("default", "evaluator"):
    p = os.path.join(b, "models", m, "config.json")
    if os.path.exists(p): out("config", m, open(p, "rb").read())
out("config", "gpt2", json.dumps({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
    "vocab_size": 300, "n_positions": 64, "layer_norm_epsilon": 1e-5}).encode())
# tokenizer.json: a cut-down copy of the bundled one (300 tokens, its merges among them)
tj = json.load(open(os.path.join(b, "models/tokenizer.json")))
vocab = dict(list(tj["model"]["vocab"].items())[:300])
merges = [m for m in tj["model"]["merges"]
          if all(p in vocab for p in (m.split(" ") if isinstance(m, str) else m))][:40]
tj["model"]["vocab"], tj["model"]["merges"] = vocab, merges
tj["added_tokens"] = [a for a in tj.get("added_tokens", []) if a["id"] < 300]
out("tokenizer_load", "small", json.dumps(tj).encode())
# text: lines of tests/data (UTF-8 and not)
lines = open(os.path.join(b, "tests/data/smoke.txt"), "rb").read().split(b"\n")
for i, l in enumerate(lines[:8]): out("tokenizer_codec", "smoke%d" % i, l)
for i, l in enumerate(open(os.path.join(b, "tests/data/gpt2/golden.jsonl"), "rb").read().split(b"\n")[:8]):
    if l.strip(): out("tokenizer_codec", "golden%d" % i, json.loads(l).get("text", "").encode())
out("tokenizer_codec", "bad-utf8", b"ab\xff\xc3(\xed\xa0\x80<|endoftext|>")
PY
seed remask_spec lowconf 'lowconf'
seed remask_spec span 'span:len=3'
seed remask_spec random 'random:seed=1,x=2'
printf 'entropy:temperature=0.5\000temperature' >fuzz/remask_spec/seeds/key
seed cli_options none ''
printf -- '--length\00064\000--samples\0004\000--batch\0002\000--seed\0007' >fuzz/cli_options/seeds/a
printf -- '--revise\0000.25@4\000--revise\0000.1\000--top-p\0000.9\000--temperature\0000' >fuzz/cli_options/seeds/b
printf -- '--steps\0008\000--threshold\0000.9\000--block\00016\000--remask\000span:len=2' >fuzz/cli_options/seeds/c

# ---- runs ----
[ $# -gt 0 ] || set -- $all
report=fuzz-report.md
printf '| target | seconds | executions | exec/s | coverage (edges) | features | corpus | result |\n|---|---|---|---|---|---|---|---|\n' >"$report"
failed=0
for t in "$@"; do
    [ -x "fuzz/fuzz_$t" ] || { echo "fuzz.sh: no target '$t' (targets: $all)" >&2; exit 2; }
    mkdir -p "fuzz/$t/corpus"
    log=fuzz/$t/log
    rc=0
    (cd "fuzz/$t" && "../fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 -max_len=8192 corpus seeds) >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    corp=$(ls "fuzz/$t/corpus" | wc -l)
    result=ok
    if [ "$rc" -ne 0 ]; then
        result="FAILED (exit $rc; $(ls fuzz/$t/crash-* fuzz/$t/leak-* fuzz/$t/timeout-* 2>/dev/null | head -1))"
        failed=1
        grep -E 'ERROR|fuzz oracle|SUMMARY' "$log" | head -5 >&2
    fi
    line="| $t | $secs | ${execs:-?} | $(( ${execs:-0} / secs )) | ${cov:-?} | ${ft:-?} | $corp | $result |"
    echo "$line" >>"$report"
    echo "$line"
done
echo "report: $build/$report"
exit $failed
