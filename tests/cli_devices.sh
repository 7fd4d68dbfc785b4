#!/bin/sh
# cli_devices.sh — `didcl devices` lists the OpenCL devices (PoCL in CI), as text and JSON,
# and the CLI rejects bad usage with exit status 2.
set -u
didcl=${DIDCL:-./didcl}
fail() { echo "FAIL: $*"; exit 1; }

"$didcl" --version | grep -q '^didcl [0-9]' || fail "--version"
"$didcl" --help | grep -q 'devices' || fail "--help lists devices"

out=$("$didcl" devices 2>&1) || fail "devices exited $?: $out"
case $out in
    *"no OpenCL platform"*) echo "SKIP: no OpenCL platform"; exit 77 ;;
esac
echo "$out" | grep -Eq '^\* [0-9]+:[0-9]+  .+ \[(cpu|gpu|accelerator|other)\]' || fail "no device line marked default: $out"
echo "$out" | grep -q 'compute units' || fail "capabilities missing: $out"

json=$("$didcl" devices --json) || fail "devices --json exited $?"
if command -v python3 >/dev/null; then
    echo "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert isinstance(d, list) and d, "empty list"
assert sum(x["default"] for x in d) == 1, "exactly one default"
for x in d:
    assert x["id"] == "%d:%d" % (x["platform_index"], x["device_index"])
    assert x["global_mem"] > 0 and x["max_work_group"] > 0 and x["name"]
' || fail "devices --json is not the expected JSON: $json"
fi

"$didcl" nosuchcmd >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command should exit 2"
"$didcl" devices extra >/dev/null 2>&1; [ $? -eq 2 ] || fail "extra argument should exit 2"
msg=$("$didcl" devices extra 2>&1)
echo "$msg" | grep -q "unexpected argument 'extra'" || fail "message: $msg"
# No platform at all (an empty ICD vendor directory): a clear message and exit 1.
empty=$(mktemp -d)
msg=$(OCL_ICD_VENDORS=$empty "$didcl" devices 2>&1); rc=$?
rmdir "$empty"
[ $rc -eq 1 ] || fail "no platform should exit 1, got $rc"
echo "$msg" | grep -q "no OpenCL platform is installed: install a driver's ICD, e.g. 'apt-get install pocl-opencl-icd'" \
    || fail "no-platform message: $msg"
echo "PASS"
