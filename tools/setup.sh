#!/bin/sh
# setup.sh — one step from a fresh clone to a built didcl: install Debian packages,
# generate the build system, configure and build. Safe to run again.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j"$(nproc)"
