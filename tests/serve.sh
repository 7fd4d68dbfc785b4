#!/bin/sh
# serve.sh — `didcl serve` end to end on loopback, on the tiny random BD3-LM that
# `check_generate --write-model` writes (length 32, block 4): non-streamed and streamed
# completions (the deltas give exactly the non-streamed text, and both equal `didcl
# generate` for the same seed, length and revision), n > 1, stop strings, /v1/models,
# /health, /metrics, the playground page, 8 concurrent clients x 2 requests (drafted
# together: /metrics shows lockstep batches > 1), two workers on one device named twice,
# --host ::1 (where the loopback has IPv6), every bad
# input (a 4xx naming the field, the server still answering), a failing plugin, a full
# queue (503 + Retry-After), the timeout (504), a client that disconnects, --api-key,
# and SIGTERM (the running request finishes, the server exits 0). Servers listen on
# free ports (--port 0) and are always killed. Needs DIDCL, MKGEN, curl and python3.
set -u
: "${DIDCL:?set DIDCL to the didcl binary}"
[ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ] || { echo "SKIP: no check_generate (Check missing)"; exit 77; }
PY=$(command -v python3) || { echo "SKIP: python3 missing"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
"$DIDCL" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-serve-XXXXXX") || exit 99
PIDS=
KEY=
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' INT TERM
failed=0
fail() { echo "FAIL: $*"; failed=1; }
T0=$(date +%s)
step() { echo "[$(( $(date +%s) - T0 ))s] $*"; }

mkdir "$tmp/m" && "$MKGEN" --write-model "$tmp/m" >/dev/null || exit 99
M="--model $tmp/m"

# start NAME ARGS...: start a server in the background; sets $U (its base URL) and
# ${NAME}_PID. Waits until it answers /health (at most 60 s).
start() {
    name=$1; shift
    "$DIDCL" serve $M --port 0 "$@" >"$tmp/$name.log" 2>&1 &
    pid=$!
    PIDS="$PIDS $pid"
    eval "${name}_PID=$pid"
    i=0
    while [ $i -lt 600 ]; do
        port=$(sed -n 's/^didcl serve: port \([0-9]*\)$/\1/p' "$tmp/$name.log" 2>/dev/null)
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || { echo "server $name died:"; cat "$tmp/$name.log"; exit 1; }
        sleep 0.1; i=$((i + 1))
    done
    [ -n "$port" ] || { echo "server $name did not start"; cat "$tmp/$name.log"; exit 1; }
    U=http://127.0.0.1:$port
    curl -s --max-time 10 "$U/health" >/dev/null || { echo "server $name does not answer"; exit 1; }
}

# post BODY OUT: POST /v1/completions; the body in OUT, the status in OUT.code.
post() {
    curl -s --max-time 60 -o "$2" -w '%{http_code}' -H 'Content-Type: application/json' ${KEY:+-H "Authorization: Bearer $KEY"} \
        -d "$1" "$U/v1/completions" >"$2.code"
}
# pyc SCRIPT ARGS...: a python check; it raises on failure.
pyc() { "$PY" -c "$@" || fail "python check failed: ${2:-}"; }

# A python helper module: SSE parsing and small HTTP calls.
cat >"$tmp/h.py" <<'EOF'
import json, sys, urllib.request, urllib.error
def sse(path):
    """(events, text by choice, finish by choice) of an SSE file."""
    evs, text, fin = [], {}, {}
    ev, data, done = None, [], False
    for line in open(path, encoding="utf-8").read().split("\n"):
        if line == "":
            if data:
                d = "\n".join(data)
                if d == "[DONE]":
                    done = True
                else:
                    o = json.loads(d)
                    evs.append((ev, o))
                    if ev is None and "choices" in o:
                        for c in o["choices"]:
                            text[c["index"]] = text.get(c["index"], "") + c["text"]
                            if c["finish_reason"]:
                                fin[c["index"]] = c["finish_reason"]
            ev, data = None, []
        elif line.startswith("event: "):
            ev = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line.startswith(":"):
            pass
    assert done, "no [DONE]"
    return evs, text, fin
def call(url, body=None, headers={}, timeout=60):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)
EOF
export PYTHONPATH="$tmp"

start A
step "server A at $U"

# ---- non-streamed and streamed completions equal `didcl generate` ----
for rev in "" "0.25"; do
    if [ -n "$rev" ]; then R=",\"revise\":$rev"; GR="--revise $rev"; else R=; GR=; fi
    post "{\"prompt\":\"Hello world\",\"max_tokens\":27,\"seed\":1$R}" "$tmp/plain.json"
    [ "$(cat "$tmp/plain.json.code")" = 200 ] || { fail "completion (revise '$rev'): $(cat "$tmp/plain.json")"; continue; }
    curl -sN --max-time 60 -d "{\"prompt\":\"Hello world\",\"max_tokens\":27,\"seed\":1,\"stream\":true$R}" \
        "$U/v1/completions" >"$tmp/stream.sse" || fail "stream (revise '$rev'): curl failed"
    "$DIDCL" generate $M --prompt "Hello world" --seed 1 --length 32 $GR --json --quiet >"$tmp/gen.json" \
        || fail "didcl generate failed"
    pyc '
import json, sys, h
p = json.load(open(sys.argv[1]))
evs, text, fin = h.sse(sys.argv[2])
g = json.loads(open(sys.argv[3]).read())
c = p["choices"][0]
assert p["object"] == "text_completion" and p["model"] == "m", p
assert c["finish_reason"] == "length" and fin == {0: "length"}, (c, fin)
assert text[0] == c["text"], (text[0], c["text"])                # stream == non-stream
assert "Hello world" + c["text"] == g["text"], (c["text"], g["text"])   # == didcl generate
assert p["usage"] == {"prompt_tokens": 4, "completion_tokens": 27, "total_tokens": 31}, p["usage"]
d = p["didcl"]
assert d["seed"] == 1 and d["length"] == 32 and d["block"] == 4
st = d["stages"]
assert len(st) == len(g["stages"]) and st[0]["nfe"] == 27 and st[0]["nfe"] == g["stages"][0]["nfe"]
assert all(e is None for e, o in evs), "didcl events without didcl_events"
if len(st) > 1:
    assert st[1]["remasked"] == 7 and c["didcl"]["stages"][1]["gamma"] == 0.25
else:
    assert len([1 for e, o in evs if o["choices"] and o["choices"][0]["text"]]) > 1, "draft not streamed by blocks"
' "$tmp/plain.json" "$tmp/stream.sse" "$tmp/gen.json"
done
step "plain and streamed completions checked"

# ---- the didcl.* events: draft, remask, revision, and the same final text ----
curl -sN --max-time 60 -d '{"prompt":"Hello world","max_tokens":27,"seed":1,"stream":true,"revise":"0.25","didcl_events":true,"stream_options":{"include_usage":true}}' \
    "$U/v1/completions" >"$tmp/ev.sse"
"$DIDCL" generate $M --prompt "Hello world" --seed 1 --revise 0.25 --trace "$tmp/t.jsonl" --json --quiet >"$tmp/gen.json"
pyc '
import json, sys, h
evs, text, fin = h.sse(sys.argv[1])
g = json.loads(open(sys.argv[2]).read())
trace = [json.loads(l) for l in open(sys.argv[3])]
names = [e for e, o in evs if e]
for n in ("didcl.start", "didcl.commit", "didcl.block", "didcl.stage_done", "didcl.remask", "didcl.sample"):
    assert n in names, (n, set(names))
assert "Hello world" + text[0] == g["text"]
rem = [o for e, o in evs if e == "didcl.remask"][0]
want = sorted(r["position"] for r in trace if r["remasked"])
assert rem["stage"] == 2 and rem["remasked"] == 7 and sorted(rem["positions"]) == want, (rem, want)
seq = {}
for e, o in evs:
    if e == "didcl.commit":
        for t in o["tokens"]:
            seq[t["pos"]] = t["id"]
            if o["stage"] == 2:
                assert "old" in t and t["pos"] in want
assert [seq[p] for p in range(5, 32)] == g["ids"][4:], "commits do not rebuild the final ids"
smp = [o for e, o in evs if e == "didcl.sample"][0]
assert smp["text"] == text[0]
u = [o for e, o in evs if e is None and "usage" in o]
assert u and u[0]["usage"]["completion_tokens"] == 27 and u[0]["choices"] == [], u
' "$tmp/ev.sse" "$tmp/gen.json" "$tmp/t.jsonl"

# ---- n, stop, ids as the prompt, temperature 0, default max_tokens ----
post '{"prompt":"Hello","seed":9,"n":3,"max_tokens":10}' "$tmp/n3.json"
post '{"prompt":"Hello","seed":9,"max_tokens":10}' "$tmp/n1.json"
post '{"prompt":[39,508,78],"seed":9,"max_tokens":10}' "$tmp/ids.json"
curl -sN --max-time 60 -d '{"prompt":"Hello","seed":9,"n":3,"max_tokens":10,"stream":true}' "$U/v1/completions" >"$tmp/n3.sse"
pyc '
import json, sys, h
a, b, ids = (json.load(open(f)) for f in sys.argv[1:4])
evs, text, fin = h.sse(sys.argv[4])
assert [c["index"] for c in a["choices"]] == [0, 1, 2]
assert a["choices"][0]["text"] == b["choices"][0]["text"] == ids["choices"][0]["text"]
assert len({c["text"] for c in a["choices"]}) == 3
assert {i: a["choices"][i]["text"] for i in range(3)} == text, (text, a["choices"])
assert a["didcl"]["length"] == 16 and a["usage"]["completion_tokens"] == 30   # 1+3+10 -> 16
assert a["didcl"]["batch"] == 3, a["didcl"]
' "$tmp/n3.json" "$tmp/n1.json" "$tmp/ids.json" "$tmp/n3.sse"
post '{"prompt":"Hello world","max_tokens":27,"seed":1}' "$tmp/full.json"
STOP=$("$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["choices"][0]["text"]; print(t[12:18])' "$tmp/full.json")
post "{\"prompt\":\"Hello world\",\"max_tokens\":27,\"seed\":1,\"stop\":[\"zzzq\",\"$STOP\"]}" "$tmp/stop.json"
curl -sN --max-time 60 -d "{\"prompt\":\"Hello world\",\"max_tokens\":27,\"seed\":1,\"stop\":\"$STOP\",\"stream\":true}" "$U/v1/completions" >"$tmp/stop.sse"
pyc '
import json, sys, h
full, st = (json.load(open(f)) for f in sys.argv[1:3])
evs, text, fin = h.sse(sys.argv[3])
t = full["choices"][0]["text"]
cut = t[:t.index(sys.argv[4])]
assert st["choices"][0]["text"] == cut and st["choices"][0]["finish_reason"] == "stop", st
assert text[0] == cut and fin[0] == "stop"
assert st["usage"]["completion_tokens"] < 27
' "$tmp/full.json" "$tmp/stop.json" "$tmp/stop.sse" "$STOP"
post '{"seed":3,"temperature":0}' "$tmp/t0.json"
pyc 'import json,sys; o=json.load(open(sys.argv[1])); assert o["didcl"]["length"] == 32 and o["usage"]["completion_tokens"] == 31, o' "$tmp/t0.json"
step "n, stop, ids, defaults checked"

# ---- the other endpoints ----
curl -s --max-time 10 "$U/v1/models" >"$tmp/models.json"
curl -s --max-time 10 "$U/v1/models/m" >"$tmp/model.json"
curl -s --max-time 10 "$U/health" >"$tmp/health.json"
curl -s --max-time 10 "$U/" >"$tmp/page.html"
pyc '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["object"] == "list" and m["data"][0]["id"] == "m" and m["data"][0]["didcl"]["context_length"] == 32
assert json.load(open(sys.argv[2]))["id"] == "m"
hl = json.load(open(sys.argv[3]))
assert hl["status"] == "ok" and hl["model"] == "m", hl
page = open(sys.argv[4]).read()
assert "<html" in page.lower() and "/v1/completions" in page
assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page, "external asset"
' "$tmp/models.json" "$tmp/model.json" "$tmp/health.json" "$tmp/page.html"

# ---- 8 concurrent clients x 2 requests (one streamed), against the same seeds alone ----
pyc '
import json, sys, threading, h
U = sys.argv[1]
body = lambda s: {"prompt": "The river", "max_tokens": 20, "seed": 100 + s, "revise": 0.25}
alone = {}
for s in range(8):
    st, b, _ = h.call(U + "/v1/completions", body(s))
    assert st == 200, b
    alone[s] = json.loads(b)["choices"][0]["text"]
out, errs = {}, []
def client(s):
    try:
        st, b, _ = h.call(U + "/v1/completions", body(s))
        assert st == 200, b
        out[(s, 0)] = json.loads(b)["choices"][0]["text"]
        st, b, _ = h.call(U + "/v1/completions", dict(body(s), stream=True))
        assert st == 200, b
        open(sys.argv[2] + str(s), "w").write(b)
        out[(s, 1)] = h.sse(sys.argv[2] + str(s))[1][0]
    except Exception as e:
        errs.append(repr(e))
ts = [threading.Thread(target=client, args=(s,)) for s in range(8)]
[t.start() for t in ts]
[t.join(120) for t in ts]
assert not errs, errs
assert len(out) == 16, sorted(out)
for (s, k), t in out.items():
    assert t == alone[s], (s, k, t, alone[s])
# they were drafted together: requests of one sample each in lockstep batches > 1
st, b, _ = h.call(U + "/metrics")
m = dict(l.split(" ", 1) for l in b.splitlines() if l.startswith("didcl_"))
assert float(m["didcl_batch_occupancy"]) > 1 and float(m["didcl_requests_per_call"]) > 1, m
' "$U" "$tmp/conc"
step "8 concurrent clients x 2 requests checked (batched together)"

# ---- bad input: a 4xx naming the field; the server still answers ----
# bad STATUS PARAM BODY
bad() {
    post "$3" "$tmp/bad.json"
    pyc '
import json, sys
code, body = open(sys.argv[1] + ".code").read(), open(sys.argv[1]).read()
assert code == sys.argv[2], (code, sys.argv[2], body, sys.argv[4])
e = json.loads(body)["error"]
assert set(e) == {"message", "type", "param", "code"}, e
assert e["param"] == (sys.argv[3] or None), (e, sys.argv[4])
assert e["message"], e
' "$tmp/bad.json" "$1" "$2" "$3"
}
bad 400 ""            '{"prompt": "Hello'
bad 400 ""            '[1, 2]'
bad 400 prompt        '{"prompt": 5}'
bad 400 prompt        '{"prompt": ["a", "b"]}'
bad 400 prompt        '{"prompt": [1, "x"]}'
bad 400 prompt        '{"prompt": [99999]}'
bad 400 prompt        '{"prompt": "[MASK]"}'
bad 400 prompt        '{"prompt": "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g"}'
bad 404 model         '{"model": "gpt-4", "prompt": "Hi"}'
bad 400 model         '{"model": 7}'
bad 400 max_tokens    '{"max_tokens": -1}'
bad 400 max_tokens    '{"max_tokens": 0}'
bad 400 max_tokens    '{"max_tokens": 1e30}'
bad 400 max_tokens    '{"max_tokens": 100000}'
bad 400 max_tokens    '{"max_tokens": "ten"}'
bad 400 max_tokens    '{"prompt": "Hello world", "max_tokens": 28}'
bad 400 temperature   '{"temperature": -1}'
bad 400 temperature   '{"temperature": "hot"}'
bad 400 top_p         '{"top_p": 0}'
bad 400 seed          '{"seed": -3}'
bad 400 seed          '{"seed": 1.5}'
bad 400 n             '{"n": 0}'
bad 400 n             '{"n": 1000}'
bad 400 stream        '{"stream": "yes"}'
bad 400 stop          '{"stop": [1]}'
bad 400 stop          '{"stop": ["a","b","c","d","e"]}'
bad 400 revise        '{"revise": 1.5}'
bad 400 revise        '{"revise": "0.2@x"}'
bad 400 revise        '{"revise": "0.2@5"}'
bad 400 revise        '{"revise": {"g": 1}}'
bad 400 remask        '{"revise": 0.2, "remask": "nosuchplugin"}'
bad 400 remask        '{"revise": 0.2, "remask": "span:len=0"}'
bad 400 remask        '{"remask": 3}'
bad 400 block         '{"block": 5}'
bad 400 block         '{"block": 0}'
bad 400 threshold     '{"steps": 2, "threshold": 0.5}'
bad 400 threshold     '{"threshold": 2}'
bad 400 steps         '{"steps": 0}'
bad 400 logprobs      '{"logprobs": 5}'
bad 400 echo          '{"echo": true}'
head -c 1100000 /dev/zero | tr '\0' ' ' >"$tmp/big"
code=$(curl -s --max-time 30 -o "$tmp/big.json" -w '%{http_code}' --data-binary @"$tmp/big" "$U/v1/completions")
[ "$code" = 413 ] || fail "oversize body: $code $(cat "$tmp/big.json")"
code=$(curl -s --max-time 30 -o "$tmp/big.json" -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big" "$U/v1/completions")
[ "$code" = 413 ] || fail "oversize chunked body: $code $(cat "$tmp/big.json")"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$U/v1/completions")
[ "$code" = 405 ] || fail "GET /v1/completions: $code"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$U/nope")
[ "$code" = 404 ] || fail "GET /nope: $code"
# a half-open connection (a body never finished) and garbage do not block others
pyc '
import json, socket, sys, h
U = sys.argv[1]
port = int(U.rsplit(":", 1)[1])
half = socket.create_connection(("127.0.0.1", port))
half.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro")
junk = socket.create_connection(("127.0.0.1", port))
junk.sendall(b"\x00\x01garbage\r\n\r\n")
st, b, _ = h.call(U + "/v1/completions", {"seed": 2, "max_tokens": 8})
assert st == 200, b
half.close(); junk.close()
' "$U"
post '{"prompt":"Hello world","max_tokens":27,"seed":1}' "$tmp/after.json"
[ "$(cat "$tmp/after.json.code")" = 200 ] || fail "the server does not answer after bad input: $(cat "$tmp/after.json")"
step "bad input checked"

# ---- a client that disconnects cancels its request ----
# 32 samples x 8 global revisions: far longer than the 1 s the client waits
LONG='{"seed":1,"n":32,"revise":[1,1,1,1,1,1,1,1],"stream":true}'
curl -sN --max-time 1 -d "$LONG" "$U/v1/completions" >/dev/null 2>&1
i=0
until grep -q "the client closed the connection" "$tmp/A.log" || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "the client closed the connection" "$tmp/A.log" || fail "a disconnected stream was not cancelled: $(tail -3 "$tmp/A.log")"
curl -s --max-time 1 -d '{"seed":1,"revise":[1,1,1,1,1,1,1,1]}' "$U/v1/completions" >/dev/null 2>&1
curl -s --max-time 10 "$U/metrics" >"$tmp/metrics.txt"
pyc '
import sys, re
m = dict(re.findall(r"^(didcl_\S+) (\S+)$", open(sys.argv[1]).read(), re.M))
for k in ("didcl_queue_depth", "didcl_generated_tokens_total", "didcl_nfe_total", "didcl_tokens_per_second",
          "didcl_batch_occupancy", "didcl_requests_total{endpoint=\"completions\"}"):
    assert k in m, k
assert float(m["didcl_generated_tokens_total"]) > 0 and float(m["didcl_nfe_total"]) > 0
assert float(m["didcl_errors_total{kind=\"invalid_value\"}"]) > 0
assert float(m["didcl_errors_total{kind=\"invalid_json\"}"]) >= 1
assert float(m["didcl_errors_total{kind=\"model_not_found\"}"]) == 1
assert float(m["didcl_errors_total{kind=\"client_gone\"}"]) >= 1, m
' "$tmp/metrics.txt"
step "disconnect and metrics checked"

# ---- SIGTERM: the running request finishes, then the server exits 0 ----
curl -s --max-time 60 -o "$tmp/inflight.json" -w '%{http_code}' -d '{"seed":1,"revise":[0.5,0.5]}' "$U/v1/completions" >"$tmp/inflight.code" &
cpid=$!
i=0
until grep -q '"running":true' "$tmp/h2" 2>/dev/null || [ $i -ge 100 ]; do
    curl -s --max-time 5 "$U/health" >"$tmp/h2"; sleep 0.05; i=$((i + 1))
done
kill -TERM "$A_PID"
wait $cpid
[ "$(cat "$tmp/inflight.code")" = 200 ] || fail "in-flight request at SIGTERM: $(cat "$tmp/inflight.code") $(cat "$tmp/inflight.json")"
i=0
while kill -0 "$A_PID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$A_PID" 2>/dev/null; then
    fail "the server did not stop within 30 s of SIGTERM"
else
    wait "$A_PID"; st=$?
    [ "$st" -eq 0 ] || fail "the server exited $st after SIGTERM"
    grep -q "stopped" "$tmp/A.log" || fail "no 'stopped' in the log"
fi
step "SIGTERM checked"

# ---- server B: --api-key, a queue of 1 (503 + Retry-After), --timeout (504) ----
start B --api-key sekret --max-queue 1 --timeout 2 ${TEST_PLUGINS_DIR:+--plugin-path "$TEST_PLUGINS_DIR"}
code=$(curl -s --max-time 10 -o "$tmp/401.json" -w '%{http_code}' -d '{}' "$U/v1/completions")
[ "$code" = 401 ] || fail "no API key: $code"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' "$U/v1/models")
[ "$code" = 401 ] || fail "wrong API key: $code"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$U/health")
[ "$code" = 200 ] || fail "/health needs no key: $code"
pyc '
import json, sys, threading, h
U, H = sys.argv[1], {"Authorization": "Bearer sekret"}
st, b, _ = h.call(U + "/v1/completions", {"seed": 1, "max_tokens": 8}, H)
assert st == 200, b
res = []
def one():
    res.append(h.call(U + "/v1/completions", {"seed": 1, "revise": [1, 1, 1, 1]}, H))
ts = [threading.Thread(target=one) for _ in range(5)]
[t.start() for t in ts]
[t.join(60) for t in ts]
codes = sorted(r[0] for r in res)
assert 503 in codes, codes
for st, b, hd in res:
    if st == 503:
        assert hd.get("Retry-After") and json.loads(b)["error"]["code"] == "queue_full", (b, hd)
    else:
        assert st in (200, 504), (st, b)
# 32 samples x 8 global revisions of 31 forwards each: far past 2 s on any CPU
st, b, _ = h.call(U + "/v1/completions", {"seed": 1, "n": 32, "revise": [1, 1, 1, 1, 1, 1, 1, 1]}, H)
assert st == 504 and json.loads(b)["error"]["code"] == "timeout", (st, b)
st, b, _ = h.call(U + "/v1/completions", {"seed": 1, "max_tokens": 8}, H)
assert st == 200, b
' "$U"
KEY=sekret
kill -INT "$B_PID"
i=0
while kill -0 "$B_PID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 "$B_PID" 2>/dev/null && fail "server B did not stop on SIGINT"
step "api key, queue, timeout, SIGINT checked"

# ---- two workers on the device named twice (two sessions, two model copies) ----
KEY=
start D --device 0:0,0:0 ${TEST_PLUGINS_DIR:+--plugin-path "$TEST_PLUGINS_DIR"}
# a plugin that fails fails that request only (on a server without a short timeout)
if [ -n "${TEST_PLUGINS_DIR:-}" ] && [ -f "$TEST_PLUGINS_DIR/didcl-remask-misbehave.so" ]; then
    post '{"seed":1,"revise":0.25,"remask":"misbehave:mode=dup"}' "$tmp/plug.json"
    pyc '
import json, sys
assert open(sys.argv[1] + ".code").read() == "500", open(sys.argv[1]).read()
e = json.load(open(sys.argv[1]))["error"]
assert e["param"] == "remask" and e["code"] == "plugin_error" and "remask selection" in e["message"], e
' "$tmp/plug.json"
fi
pyc '
import json, sys, threading, h
U = sys.argv[1]
body = lambda s: {"prompt": "The sea", "max_tokens": 12, "seed": 200 + s, "revise": 0.25}
alone = {s: json.loads(h.call(U + "/v1/completions", body(s))[1])["choices"][0]["text"]
         for s in range(6)}
out, errs = {}, []
def client(s):
    try:
        st, b, _ = h.call(U + "/v1/completions", body(s))
        assert st == 200, b
        out[s] = json.loads(b)["choices"][0]["text"]
    except Exception as e:
        errs.append(repr(e))
ts = [threading.Thread(target=client, args=(s,)) for s in range(6)]
[t.start() for t in ts]
[t.join(120) for t in ts]
assert not errs and out == alone, (errs, out, alone)
st, b, _ = h.call(U + "/v1/models/m")
assert json.loads(b)["didcl"]["devices"] == [json.loads(b)["didcl"]["device"]] * 2, b
st, b, _ = h.call(U + "/metrics")
w = [l for l in b.splitlines() if l.startswith("didcl_worker_completions_total{")]
assert len(w) == 2 and all(float(l.split()[-1]) > 0 for l in w), w
assert "didcl_workers 2" in b
' "$U"
kill -TERM "$D_PID"
step "two workers checked"

# ---- IPv6: --host ::1 (skipped where the loopback has no IPv6) ----
if "$PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    "$DIDCL" serve $M --host ::1 --port 0 >"$tmp/v6.log" 2>&1 &
    V6_PID=$!
    PIDS="$PIDS $V6_PID"
    i=0
    until grep -q '^didcl serve: port' "$tmp/v6.log" || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
    port=$(sed -n 's/^didcl serve: port \([0-9]*\)$/\1/p' "$tmp/v6.log")
    grep -q "listening on http://\[::1\]:$port/" "$tmp/v6.log" || fail "IPv6: $(cat "$tmp/v6.log")"
    code=$(curl -sg --max-time 60 -o "$tmp/v6.json" -w '%{http_code}' -d '{"seed":1,"max_tokens":8}' "http://[::1]:$port/v1/completions")
    [ "$code" = 200 ] || fail "IPv6 completion: $code $(cat "$tmp/v6.json")"
    code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")
    [ "$code" = 000 ] || fail "--host ::1 also answers on IPv4 ($code)"
    kill -TERM "$V6_PID"
    step "IPv6 checked"
else
    echo "no IPv6 loopback here: --host ::1 not tested"
fi

# ---- usage errors ----
"$DIDCL" serve --port 99999 >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "--port 99999 not a usage error"
"$DIDCL" serve --host nohost $M >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "--host nohost not a usage error"
"$DIDCL" serve --device 0:0,nosuchdevice $M >/dev/null 2>"$tmp/err"; [ $? -ne 0 ] || fail "--device nosuchdevice accepted"
grep -q "nosuchdevice" "$tmp/err" || fail "--device nosuchdevice: $(cat "$tmp/err")"
"$DIDCL" serve --help | grep -q -- '--max-queue' || fail "serve --help"

exit $failed
