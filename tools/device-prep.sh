#!/bin/sh
# device-prep.sh — run HERE (the build machine) before tools/device-run.sh runs on the GPU
# machine: builds the library, the CLI, the test programs, tools/bench-model and
# tools/bench-ops, and puts
# the runtime packages the GPU machine's image lacks into .device/ (ignored by git), with
# ../shared/device/opencl-env.sh. The device run then needs `carry`: .libs tests/.libs
# tools/.libs .device (see docs/portability.md).
set -eu
cd "$(dirname "$0")/.."
[ -f Makefile ] || { autoreconf -fi && ./configure -q; }
make -j2
make -j2 tests/check_model tests/check_ops tests/check_kernels tests/check_generate \
    tools/bench-model tools/bench-ops
mkdir -p .device
cd .device
for p in ocl-icd-libopencl1 libclblast1 clinfo libjansson4 libpcre2-8-0 libsubunit0; do
    ls ${p}_*.deb >/dev/null 2>&1 || apt-get download "$p"
done
# the CLI's own libraries beyond OpenCL, linked there only where the image lacks them
# (tools/device-env.sh)
mkdir -p extra
for p in libmicrohttpd12 libgnutls30 libnettle8 libhogweed6 libp11-kit0 libtasn1-6 libidn2-0 libunistring2 libgmp10 libffi8; do
    ls extra/${p}_*.deb >/dev/null 2>&1 || (cd extra && apt-get download "$p")
done
cp ../../shared/device/opencl-env.sh . 2>/dev/null || cp /work/shared/device/opencl-env.sh .
ls -la
