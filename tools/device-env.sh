# device-env.sh — source ON the GPU machine (bash or sh): the OpenCL set-up from
# .device/opencl-env.sh, then the runtime libraries of .device/extra/*.deb (those the CLI
# links beyond OpenCL: libmicrohttpd and what it needs) unpacked into /opt/didcl-extra, of
# which only the libraries the image lacks are linked into /usr/local/lib, so that a newer
# system copy is never shadowed by Debian's.
[ -f .device/opencl-env.sh ] && . .device/opencl-env.sh
if ls .device/extra/*.deb >/dev/null 2>&1; then
    mkdir -p /opt/didcl-extra
    for f in .device/extra/*.deb; do dpkg -x "$f" /opt/didcl-extra; done
    for so in $(find /opt/didcl-extra -name 'lib*.so.*' \( -type f -o -type l \)); do
        n=$(basename "$so")
        ldconfig -p | grep -q "[[:space:]]$n " || ln -sf "$so" "/usr/local/lib/$n"
    done
    ldconfig
fi
