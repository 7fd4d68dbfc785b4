#!/bin/sh
# sanitize.sh — the sanitizer lane: build a copy of this tree with AddressSanitizer and
# UndefinedBehaviorSanitizer and run `make check` there. Any ASan report, UBSan report
# (halt_on_error) or leak of our own fails the run. .ci/run runs it, then tools/fuzz.sh.
#
#     tools/sanitize.sh [BUILD_DIR]     (default: ${TMPDIR:-/tmp}/didcl-sanitize)
#
# The copy holds the tracked and untracked-but-not-ignored files, so uncommitted work is
# tested; an in-tree configured checkout cannot host a VPATH build, hence the copy.
# Leaks inside PoCL, LLVM and the OpenCL ICD loader (allocated once per process, never
# freed by design) are suppressed by tools/lsan.supp; ours are not.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${TMPDIR:-/tmp}/didcl-sanitize}
jobs=${JOBS:-2}

"$src/tools/copy-tree.sh" "$src" "$build"
cd "$build"
[ -x configure ] || autoreconf -fi >/dev/null
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
[ -f Makefile ] || ./configure CFLAGS="-O1 -g $san" LDFLAGS="$san" >/dev/null

# PoCL compiles kernels in-process through LLVM, which trips ASan's fake-stack and ODR
# checks without being ours to fix; the options below keep those quiet and nothing else.
ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=0:detect_odr_violation=0:abort_on_error=0"
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
LSAN_OPTIONS="suppressions=$src/tools/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
make -j"$jobs" >/dev/null
# Every test, less those that run no C of ours (the PyTorch training tools), those that
# host libdidcl in a process not built here (a Python interpreter, the out-of-tree plugin
# example: ASan's runtime must be the first library of a process, which an uninstrumented
# host cannot give), and the HTTP server's, whose 2-second request timeouts a sanitized
# build overruns (and which alone takes 6 minutes so); the plain `make check` runs them.
# Check's per-test timeouts are scaled for the sanitizers' slowdown.
all=$(printf 'print-tests:\n\t@echo $(TESTS)\n' | make -s -f Makefile -f - print-tests)
tests=
for t in $all; do
    case $t in
    tests/train_*|tests/python.sh|tests/plugin_example.sh|tests/serve*.sh) ;;
    *) tests="$tests $t" ;;
    esac
done
CK_TIMEOUT_MULTIPLIER=10 make -j"$jobs" check TESTS="$tests"
