#!/bin/sh
# copy-tree.sh SRC DEST — copy a checkout's tracked and untracked-but-not-ignored files
# (so uncommitted work is included, build outputs are not) into DEST, which must lie
# outside SRC: an in-tree configured checkout cannot host a VPATH build, so the
# sanitizer and fuzz builds (tools/sanitize.sh, tools/fuzz.sh) configure a copy.
set -eu
src=$(cd "$1" && pwd)
mkdir -p "$2"
dest=$(cd "$2" && pwd)
case "$dest/" in "$src"/*) echo "copy-tree.sh: $dest lies inside the source tree $src" >&2; exit 2 ;; esac
(cd "$src" && git ls-files -co --exclude-standard -z) |
    (cd "$src" && xargs -0 tar cf -) | (cd "$dest" && tar xf -)
