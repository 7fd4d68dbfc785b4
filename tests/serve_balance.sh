#!/bin/sh
# serve_balance.sh — two `didcl serve` instances behind HAProxy (tools/haproxy-didcl.cfg,
# docs/scaling.md) on loopback: concurrent requests, plain and streamed, spread over both;
# one server is killed (SIGKILL) while it runs requests. Every request accepted by the
# balancer must end with the right answer (a non-streamed one, retried on the other
# server, always does) or with an error the client sees (a stream cut mid-way), never
# silently short; afterwards every request goes to the survivor. Skips (77) without
# haproxy (Debian `haproxy`). Needs DIDCL, MKGEN, curl and python3.
set -u
: "${DIDCL:?set DIDCL to the didcl binary}"
[ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ] || { echo "SKIP: no check_generate (Check missing)"; exit 77; }
HAPROXY=$(command -v haproxy || ls /usr/sbin/haproxy 2>/dev/null) || { echo "SKIP: haproxy missing"; exit 77; }
PY=$(command -v python3) || { echo "SKIP: python3 missing"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
"$DIDCL" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }
SRC=${DIDCL_TOP_SRCDIR:-$(dirname "$0")/..}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-balance-XXXXXX") || exit 99
PIDS=
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' INT TERM

mkdir "$tmp/m" && "$MKGEN" --write-model "$tmp/m" >/dev/null || exit 99

# serve NAME: a server on a free port; sets ${NAME}_PID and ${NAME}_PORT
serve() {
    "$DIDCL" serve --model "$tmp/m" --port 0 >"$tmp/$1.log" 2>&1 &
    eval "$1_PID=$!"
    PIDS="$PIDS $!"
    i=0
    until grep -q '^didcl serve: port' "$tmp/$1.log" || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
    p=$(sed -n 's/^didcl serve: port \([0-9]*\)$/\1/p' "$tmp/$1.log")
    [ -n "$p" ] || { echo "server $1 did not start:"; cat "$tmp/$1.log"; exit 1; }
    eval "$1_PORT=$p"
}
serve A
serve B
FRONT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s/bind 127.0.0.1:8000/bind 127.0.0.1:$FRONT/" \
    -e "s/server a 127.0.0.1:8081/server a 127.0.0.1:$A_PORT/" \
    -e "s/server b 127.0.0.1:8082/server b 127.0.0.1:$B_PORT/" \
    "$SRC/tools/haproxy-didcl.cfg" >"$tmp/haproxy.cfg"
grep -q "server a 127.0.0.1:$A_PORT" "$tmp/haproxy.cfg" || { echo "config not rewritten"; exit 1; }
"$HAPROXY" -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
PIDS="$PIDS $!"
i=0
until curl -s --max-time 2 "http://127.0.0.1:$FRONT/health" | grep -q '"ok"' || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
curl -s --max-time 2 "http://127.0.0.1:$FRONT/health" | grep -q '"ok"' || { echo "haproxy does not answer:"; cat "$tmp/haproxy.log"; exit 1; }

"$PY" - "$FRONT" "$A_PORT" "$B_PORT" "$A_PID" <<'EOF'
import http.client, json, os, signal, sys, threading, time
front, a_port, b_port, a_pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def call(port, body, stream=False):
    """(status, text) of one completion; raises on a transport error or a cut stream."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/v1/completions", json.dumps(dict(body, stream=stream)),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    raw = r.read().decode()  # IncompleteRead when a chunked stream is cut
    if r.status != 200:
        return r.status, raw
    if not stream:
        return 200, json.loads(raw)["choices"][0]["text"]
    events = [l[6:] for l in raw.split("\n") if l.startswith("data: ")]
    if not events or events[-1] != "[DONE]":
        raise RuntimeError("stream without [DONE]: %r" % raw[-200:])
    text = ""
    for e in events[:-1]:
        d = json.loads(e)
        if "error" in d:
            return 500, e
        text += "".join(ch["text"] for ch in d["choices"])
    return 200, text

def health(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/health")
    return json.loads(c.getresponse().read())

body = lambda s: {"prompt": "The hill", "max_tokens": 16, "seed": 300 + s, "revise": [0.5, 0.5]}
N = 12
expected = {s: call(b_port, body(s))[1] for s in range(N)}  # each alone, on B directly

results = {}
def client(s):
    try:
        results[s] = call(front, body(s), stream=s % 4 == 3)
    except Exception as e:  # the client sees the failure: that is allowed
        results[s] = ("error", repr(e))
ts = [threading.Thread(target=client, args=(s,)) for s in range(N)]
[t.start() for t in ts]
t0 = time.time()
while not health(a_port)["running"]:  # kill A while it generates
    assert time.time() - t0 < 60, "server A never ran a request"
    time.sleep(0.02)
os.kill(a_pid, signal.SIGKILL)
[t.join(180) for t in ts]
assert len(results) == N, sorted(results)
errors = 0
for s, (st, text) in sorted(results.items()):
    stream = s % 4 == 3
    if st == 200:
        assert text == expected[s], (s, text, expected[s])  # never silently short or wrong
    else:
        assert stream, ("a plain request failed instead of being retried", s, st, text)
        errors += 1
print("requests: %d, streams cut by the kill: %d" % (N, errors))
# the balancer routes around the dead server
for s in range(4):
    st, text = call(front, body(s))
    assert st == 200 and text == expected[s], (s, st, text)
EOF
rc=$?
[ $rc -eq 0 ] || { echo "FAIL (haproxy log:)"; tail -20 "$tmp/haproxy.log"; exit 1; }
exit 0
