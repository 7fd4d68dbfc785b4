#!/bin/sh
# cli_headers.sh — the CLI is a client of the public API: files under src/cli/ include
# only didcl.h, didcl/remask.h, its own src/cli/*.h and system headers, never a private header of
# the library (src/*.h, config.h, generated headers). An angle-bracket include counts as
# a system header unless a file of that name exists in this project.
set -u
src=${DIDCL_TOP_SRCDIR:?}
build=${DIDCL_TOP_BUILDDIR:-$src}

# check FILE: print one line per private include of FILE.
check() {
    name=${1##*/}
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$1" |
    while read -r inc; do
        h=${inc#?}; h=${h%?}
        case $h in didcl.h | didcl/remask.h) continue ;; esac
        case $h in cli/*.h) [ -f "$src/src/$h" ] && continue ;; esac # the CLI's own headers
        case $inc in \<*)
            [ -f "$src/src/$h" ] || [ -f "$build/src/$h" ] || [ -f "$src/$h" ] ||
                [ -f "$build/$h" ] || [ -f "$src/include/$h" ] || continue ;;
        esac
        echo "src/cli/$name: #include $inc"
    done
}

out=$(for f in "$src"/src/cli/*.c "$src"/src/cli/*.h; do [ -f "$f" ] && check "$f"; done)
if [ -n "$out" ]; then
    echo "FAIL: the CLI includes private headers (only include/ and cli/cli.h are allowed):"
    echo "$out" | sed 's/^/  /'
    exit 1
fi
echo "PASS: src/cli/ includes only public headers"
