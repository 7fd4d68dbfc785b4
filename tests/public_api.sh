#!/bin/sh
# public_api.sh — libdidcl.so exports exactly the functions declared DIDCL_API in the
# public headers (include/): no internal symbol leaks out (the library is built with
# -fvisibility=hidden), and no public function is missing. The op reference is not in it.
set -u
build=${DIDCL_TOP_BUILDDIR:?}
src=${DIDCL_TOP_SRCDIR:?}
nm=${NM:-nm}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-api-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

lib=$build/.libs/libdidcl.so
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }

# Declared: the identifier that ends each "DIDCL_API ... name(" (or "... name;" for data),
# with comments and preprocessor lines (the macro's own definition) removed first.
for h in $(find "$src/include" -name '*.h' | sort); do
    sed -e '/^[[:space:]]*#/d' "$h"
done | tr '\n' ' ' | sed -e 's:/\*[^*]*\*\+\([^/*][^*]*\*\+\)*/: :g' |
    grep -o 'DIDCL_API[^(;]*[(;]' |
    sed -e 's/[[:space:]]*[(;]$//' -e 's/.*[^A-Za-z0-9_]//' | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || { echo "FAIL: no DIDCL_API declaration found under $src/include"; exit 1; }

# Exported: every defined dynamic symbol but the linker's own.
# $nm unquoted: libtool sets NM to a command with options ("nm -B").
$nm -D --defined-only "$lib" >"$tmp/nm" || { echo "FAIL: $nm -D $lib"; exit 1; }
awk '{print $NF}' "$tmp/nm" | grep -Ev '^(_init|_fini|_edata|_end|__bss_start)$' |
    sort -u >"$tmp/exported"

failed=0
leaked=$(comm -13 "$tmp/declared" "$tmp/exported")
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$leaked" ]; then
    echo "FAIL: exported by libdidcl.so but not declared DIDCL_API in include/:"
    echo "$leaked" | sed 's/^/  /'
    failed=1
fi
if [ -n "$missing" ]; then
    echo "FAIL: declared DIDCL_API in include/ but not exported by libdidcl.so:"
    echo "$missing" | sed 's/^/  /'
    failed=1
fi
# The op reference (src/ops_ref.c) ships for didcl_selftest_run, hidden like every
# internal: only the self-test is exported, not the reference itself.
if $nm -D "$lib" | grep -q ' didcl_ref_'; then
    echo "FAIL: libdidcl.so exports op reference symbols (didcl_ref_*): they are internal"
    failed=1
fi
[ $failed -eq 0 ] && echo "PASS: $(wc -l <"$tmp/exported") symbols, all DIDCL_API"
exit $failed
