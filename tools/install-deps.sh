#!/bin/sh
# install-deps.sh — install the Debian 12 packages didcl needs to build, test and run.
# Installs only what is missing; uses sudo when not run as root.
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config
  ocl-icd-opencl-dev opencl-c-headers libclblast-dev pocl-opencl-icd clinfo
  libjansson-dev libpcre2-dev libmicrohttpd-dev check
  python3 python3-numpy python3-torch python3-pytest curl haproxy
  clang libclang-rt-dev"

missing=
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install:$missing" >&2; exit 1; }
else
    SUDO=
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
