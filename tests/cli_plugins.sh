#!/bin/sh
# cli_plugins.sh — `didcl plugins` lists the bundled plugins as loadable, then the built-in
# copies (shadowed by those files), lists broken ones with the reason, emits JSON, runs
# --try selections, and rejects bad usage.
set -u
didcl=${DIDCL:-./didcl}
build=${DIDCL_TOP_BUILDDIR:-.}
fail() { echo "FAIL: $*"; exit 1; }
unset DIDCL_PLUGIN_PATH

bundled=$build/plugins/.libs
out=$("$didcl" plugins --plugin-path "$bundled" 2>&1) || fail "plugins exited $?: $out"
echo "$out" | grep -q "^search path: $bundled:.* (then the built-in plugins)$" || fail "search path line: $out"
for p in entropy learned lowconf random span; do
    echo "$out" | grep -Eq "^$p +1\.0 +ABI 1 ok  " || fail "$p not listed as ok: $out"
    echo "$out" | grep -q "$bundled/didcl-remask-$p.so" || fail "$p path: $out"
    # the built-in copy comes after the files, shadowed by the file of the same name
    echo "$out" | grep -A1 -E "^$p +1\.0 +ABI 1 ok \(shadowed by an earlier one\)" \
        | grep -qx ' *(built-in)' || fail "built-in $p not listed as shadowed: $out"
done
last=$(echo "$out" | tail -1)
[ "$last" = "             (built-in)" ] || fail "built-ins are not listed last: $out"

out=$("$didcl" plugins --plugin-path "$build/tests/.libs" 2>&1) || fail "broken listing exited $?"
echo "$out" | grep -q "^badabi       FAILED: plugin .*didcl-remask-badabi.so: ABI version 2, this didcl supports 1" \
    || fail "badabi reason: $out"
echo "$out" | grep -q "^noentry      FAILED: plugin .*: no entry symbol didcl_remask_plugin_entry" \
    || fail "noentry reason: $out"

if command -v python3 >/dev/null; then
    "$didcl" plugins --plugin-path "$build/tests/.libs:$bundled" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
names = {}
for p in d["plugins"]:
    names.setdefault(p["name"], p)  # what the name resolves to: the first one
assert d["search_path"][0].endswith("tests/.libs"), d["search_path"]
for n in ("lowconf", "entropy", "span", "random", "learned", "misbehave"):
    assert names[n]["ok"] and names[n]["abi_version"] == 1 and names[n]["error"] == "", names[n]
    assert names[n]["origin"] == "file" and not names[n]["shadowed"], names[n]
builtin = [p for p in d["plugins"] if p["origin"] == "built-in"]
assert [p["name"] for p in builtin] == ["entropy", "learned", "lowconf", "random", "span"], builtin
assert all(p["path"] == "(built-in)" and p["shadowed"] and p["ok"] for p in builtin), builtin
assert d["plugins"][-5:] == builtin, "built-ins are not last"
assert not names["badsize"]["ok"] and "struct_size 16" in names["badsize"]["error"]
' || fail "plugins --json"
fi

out=$("$didcl" plugins --plugin-path "$bundled" --try lowconf) || fail "--try lowconf exited $?"
echo "$out" | grep -q '^selected (4): 3 8 11 14$' || fail "--try lowconf: $out"
out=$("$didcl" plugins --plugin-path "$bundled" --try span:len=3 --count 5) || fail "--try span"
echo "$out" | grep -q '^selected (5): 6 7 8 10 11$' || fail "--try span: $out"
a=$("$didcl" plugins --plugin-path "$bundled" --try random --seed 9 --n 40 --count 8 | tail -1)
b=$("$didcl" plugins --plugin-path "$bundled" --try random --seed 9 --n 40 --count 8 | tail -1)
c=$("$didcl" plugins --plugin-path "$bundled" --try random --seed 10 --n 40 --count 8 | tail -1)
[ "$a" = "$b" ] || fail "random not reproducible: $a / $b"
[ "$a" != "$c" ] || fail "random ignores the seed: $a"

msg=$("$didcl" plugins --plugin-path "$bundled" --try span:lenght=2 2>&1); rc=$?
[ $rc -eq 1 ] || fail "bad option should exit 1, got $rc"
echo "$msg" | grep -q "didcl-remask-span.so: create failed: unknown option 'lenght'; expected len, agg" \
    || fail "bad option message: $msg"
msg=$("$didcl" plugins --plugin-path /nonexistent --try nosuch 2>&1); rc=$?
[ $rc -eq 1 ] || fail "missing plugin should exit 1, got $rc"
echo "$msg" | grep -q "remask plugin 'nosuch' not found: no didcl-remask-nosuch.so in /nonexistent, " \
    || fail "missing plugin message: $msg"
echo "$msg" | grep -q "and no built-in or registered plugin of that name" || fail "missing plugin message: $msg"
msg=$("$didcl" plugins --plugin-path "$build/tests/.libs" --try misbehave:mode=locked 2>&1)
echo "$msg" | grep -q "plugin 'misbehave' selected locked position 1 (prompt or BOS)" || fail "locked: $msg"

"$didcl" plugins extra >/dev/null 2>&1; [ $? -eq 2 ] || fail "extra argument should exit 2"
msg=$("$didcl" plugins --try lowconf --count 20 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--count too large should exit 2, got $rc"
echo "$msg" | grep -q -- "--count 20 exceeds the 14 unlocked positions" || fail "count message: $msg"
"$didcl" --help | grep -q 'plugins' || fail "--help lists plugins"

# Plugins that abort (writing to stdout first), exit or fault while loading are probed in
# a child process: each gets its own FAILED line, the listing finishes, and --json stays
# valid JSON (the constructor's noise goes to stderr).
out=$("$didcl" plugins --plugin-path "$build/tests/.libs" 2>/dev/null); rc=$?
[ $rc -eq 0 ] || fail "listing with crashing plugins exited $rc"
echo "$out" | grep -q "^ctorabort    FAILED: plugin .*didcl-remask-ctorabort.so: loading it killed the probing process with signal 6 (Aborted)$" \
    || fail "ctorabort line: $out"
echo "$out" | grep -q "^ctorexit     FAILED: plugin .*: loading it ended the probing process (exit status 3) before its descriptor was read$" \
    || fail "ctorexit line: $out"
echo "$out" | grep -q "^entrycrash   FAILED: plugin .*didcl-remask-entrycrash.so: loading it " || fail "entrycrash line: $out"
echo "$out" | grep -q "^misbehave " || fail "listing stopped before misbehave: $out"
echo "$out" | tail -1 | grep -q "(built-in)" || fail "listing did not reach the built-ins: $out"

# A plugin directory whose name is not UTF-8: --json carries U+FFFD, nothing is dropped.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-plugins-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
odd=$(printf "$tmp/odd\377dir")
mkdir "$odd" && cp "$bundled/didcl-remask-span.so" "$odd/" || exit 99
if command -v python3 >/dev/null; then
    "$didcl" plugins --plugin-path "$odd" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["search_path"][0].endswith("odd\ufffddir"), d["search_path"]
p = d["plugins"][0]
assert p["name"] == "span" and p["ok"] and p["path"].endswith("odd\ufffddir/didcl-remask-span.so"), p
' || fail "plugins --json with a non-UTF-8 directory"
    "$didcl" plugins --plugin-path "$odd" --try span --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["path"].endswith("odd\ufffddir/didcl-remask-span.so") and len(d["selected"]) == 4, d
' || fail "plugins --try --json with a non-UTF-8 directory"
fi
# Output that cannot be written (a full disk): one line, exit 1.
if [ -w /dev/full ]; then
    msg=$("$didcl" plugins --json 2>&1 >/dev/full); rc=$?
    [ $rc -eq 1 ] || fail "plugins --json >/dev/full exited $rc"
    [ "$msg" = "didcl plugins: cannot write to standard output: No space left on device" ] \
        || fail "plugins >/dev/full message: $msg"
fi
echo "PASS"
