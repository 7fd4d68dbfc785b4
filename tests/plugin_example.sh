#!/bin/sh
# plugin_example.sh — the out-of-tree example plugin, compiled only against the INSTALLED
# header: install didcl into a temporary DESTDIR, build examples/remask-example there with
# pkg-config, and load and run it through the installed didcl.
set -u
build=${DIDCL_TOP_BUILDDIR:?}
src=${DIDCL_TOP_SRCDIR:?}
make=${DIDCL_MAKE:-make}
fail() { echo "FAIL: $*"; [ -f "$tmp/log" ] && tail -20 "$tmp/log"; exit 1; }
command -v pkg-config >/dev/null || { echo "SKIP: no pkg-config"; exit 77; }
command -v cc >/dev/null || { echo "SKIP: no cc"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset DIDCL_PLUGIN_PATH

dest=$tmp/dest
$make -C "$build" install DESTDIR="$dest" >"$tmp/log" 2>&1 || fail "make install DESTDIR=$dest"
pc=$(find "$dest" -name didcl.pc | head -1)
[ -n "$pc" ] || fail "didcl.pc not installed"
prefix=$(sed -n 's/^prefix=//p' "$pc")
pkg="pkg-config --define-variable=prefix=$dest$prefix"
export PKG_CONFIG_PATH="$(dirname "$pc")"
cflags=$($pkg --cflags didcl) || fail "pkg-config --cflags didcl"
case $cflags in *"$dest"*) ;; *) fail "cflags do not point into the install: $cflags" ;; esac
libdir=$($pkg --variable=libdir didcl)
pluginsdir=$($pkg --variable=pluginsdir didcl)
[ -f "$dest$prefix/include/didcl/remask.h" ] || fail "remask.h not installed"
for p in lowconf entropy span random learned; do
    [ -f "$pluginsdir/didcl-remask-$p.so" ] || fail "$p not installed in $pluginsdir"
done
[ -f "$pluginsdir/learned.safetensors" ] || fail "learned's weights not installed in $pluginsdir"

# The public header compiles on its own from the install (it includes didcl/remask.h).
printf '#include <didcl.h>\nint main(void) { return didcl_remask_select == 0; }\n' >"$tmp/host.c"
cc -std=c11 -fsyntax-only $cflags "$tmp/host.c" 2>"$tmp/log" || fail "installed didcl.h"

# Build the example out of tree: a copy, its own Makefile, the installed header only.
cp -R "$src/examples/remask-example" "$tmp/ex" && chmod -R u+w "$tmp/ex"
rm -f "$tmp/ex/didcl-remask-example.so"
$make -C "$tmp/ex" PKG_CONFIG="$pkg" CFLAGS="-O2 -Wall -Wextra -Werror" >"$tmp/log" 2>&1 \
    || fail "building the example"
[ -f "$tmp/ex/didcl-remask-example.so" ] || fail "no didcl-remask-example.so"

didcl="$dest$prefix/bin/didcl"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
out=$(DIDCL_PLUGIN_PATH=$pluginsdir "$didcl" plugins --plugin-path "$tmp/ex" 2>&1) \
    || fail "installed didcl plugins: $out"
echo "$out" | grep -Eq "^example +1\.0 +ABI 1 ok  smallest top1-top2 margin" || fail "example not ok: $out"
echo "$out" | grep -Eq "^span +1\.0 +ABI 1 ok" || fail "installed span not ok: $out"
case $out in *"$build/plugins"*) fail "installed didcl looked into the build tree: $out" ;; esac

out=$("$didcl" plugins --plugin-path "$tmp/ex" --try example --count 3 2>&1) || fail "--try: $out"
echo "$out" | grep -q '^selected (3): 3 8 11$' || fail "example selection: $out"
out=$("$didcl" plugins --try "$tmp/ex/didcl-remask-example.so:weight=0.5" --n 20 --count 5 2>&1) \
    || fail "--try by path: $out"
echo "$out" | grep -q '^selected (5): 3 8 11 16 19$' || fail "example selection by path: $out"
msg=$("$didcl" plugins --plugin-path "$tmp/ex" --try example:weight=2 2>&1)
echo "$msg" | grep -q "didcl-remask-example.so: create failed: option weight: '2' is not a number in \[0, 1\]" \
    || fail "example option error: $msg"

# A host program built from the installed headers and `pkg-config --libs didcl` alone
# (examples/generate.c) generates, streams and revises with the out-of-tree plugin.
if [ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ]; then
    cc -std=c11 -Wall -Wextra -Werror "$src/examples/generate.c" $cflags \
        $($pkg --libs didcl) -o "$tmp/generate" 2>"$tmp/log" || fail "building examples/generate.c"
    mkdir "$tmp/m" && "$MKGEN" --write-model "$tmp/m" >"$tmp/log" 2>&1 || fail "tiny model"
    DIDCL_PLUGIN_PATH="$tmp/ex" "$tmp/generate" -m "$tmp/m" -n 32 -s 3 -r example:weight=0.5 \
        "Hello" >"$tmp/gen.out" 2>"$tmp/gen.err" || { cat "$tmp/gen.err"; fail "examples/generate"; }
    DIDCL_PLUGIN_PATH="$tmp/ex" "$didcl" generate --model "$tmp/m" --length 32 --seed 3 \
        --revise 0.25 --remask example:weight=0.5 --prompt "Hello" --quiet >"$tmp/cli.out" 2>&1 \
        || fail "installed didcl generate with the example plugin: $(cat "$tmp/cli.out")"
    cmp -s "$tmp/gen.out" "$tmp/cli.out" || fail "examples/generate and didcl generate differ"
    grep -q 'revision remasked [1-9]' "$tmp/gen.err" || fail "no revision: $(cat "$tmp/gen.err")"
fi

# Built-ins: the installed didcl with no plugin directory it can see (DESTDIR is not where
# it looks) still resolves the bundled names, from libdidcl, with the same selections as
# the installed .so files; given the files, those win.
if [ ! -d "$prefix/lib/didcl/plugins" ]; then
    out=$("$didcl" plugins 2>&1) || fail "didcl plugins without plugin files: $out"
    for p in entropy lowconf random span; do
        echo "$out" | grep -A1 -E "^$p +1\.0 +ABI 1 ok  " | grep -qx ' *(built-in)' \
            || fail "built-in $p not listed unshadowed: $out"
    done
    for args in "--try lowconf" "--try span:len=3 --count 5" "--try entropy --n 30 --count 7" \
        "--try random --seed 9 --n 40 --count 8" "--try random --seed 10 --n 40 --count 8"; do
        # shellcheck disable=SC2086
        a=$("$didcl" plugins $args 2>&1) || fail "built-in $args: $a"
        echo "$a" | grep -q "(built-in)" || fail "$args did not use the built-in: $a"
        # shellcheck disable=SC2086
        b=$("$didcl" plugins --plugin-path "$pluginsdir" $args 2>&1) || fail "file $args: $b"
        echo "$b" | grep -q "$pluginsdir/didcl-remask-" || fail "$args did not use the file: $b"
        [ "$(echo "$a" | tail -1)" = "$(echo "$b" | tail -1)" ] \
            || fail "built-in and file differ on $args: $a / $b"
    done
fi

# The example's install target puts it where the installed didcl finds it by name.
$make -C "$tmp/ex" install PKG_CONFIG="$pkg" DESTDIR= >"$tmp/log" 2>&1 || fail "example make install"
[ -f "$pluginsdir/didcl-remask-example.so" ] || fail "example not installed into $pluginsdir"
echo "PASS"
