#!/bin/sh
# python.sh — the Python package (python/didcl, ctypes over libdidcl) under pytest, against
# this build tree's library: generation equal to the CLI, events in order, Python remask
# strategies (the lowconf mirror, bad ones refused), scoring equal to `didcl score`, no
# leak over 100 sessions, struct layouts equal to the C headers'. Writes only to a
# temporary directory (make distcheck: read-only srcdir). Skips (77) without numpy and
# pytest (python3-numpy, python3-pytest).
set -u
: "${DIDCL_TOP_BUILDDIR:?}" "${DIDCL_TOP_SRCDIR:?}"
PY=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy, pytest' 2>/dev/null; then
        PY=$p
        break
    fi
done
[ -n "$PY" ] || { echo "SKIP: no python3 with numpy and pytest (apt-get install python3-numpy python3-pytest)"; exit 77; }
lib=$DIDCL_TOP_BUILDDIR/.libs/libdidcl.so
[ -e "$lib" ] || { echo "FAIL: $lib not built"; exit 99; }
"${DIDCL:-$DIDCL_TOP_BUILDDIR/didcl}" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-python-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
DIDCL_LIBRARY=$lib
DIDCL_LAYOUT=$DIDCL_TOP_BUILDDIR/tests/python_layout
PYTHONPATH=$DIDCL_TOP_SRCDIR/python${PYTHONPATH:+:$PYTHONPATH}
PYTHONDONTWRITEBYTECODE=1
export DIDCL_LIBRARY DIDCL_LAYOUT PYTHONPATH PYTHONDONTWRITEBYTECODE
cd "$tmp" || exit 99
"$PY" -m pytest -q -p no:cacheprovider --basetemp="$tmp/pytest" --durations=5 \
    "$DIDCL_TOP_SRCDIR/python/tests" "$@"
rc=$?
[ $rc -eq 5 ] && exit 77 # no tests collected
exit $rc
