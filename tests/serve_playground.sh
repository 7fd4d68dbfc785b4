#!/bin/sh
# serve_playground.sh — the playground page of `didcl serve` in headless Chromium
# (optional: skips with 77 without Debian's chromium). The page is opened with
# /?run=1&... so it generates at once; the script drives Chromium over the DevTools
# protocol on a pipe (--remote-debugging-pipe, no extra Python packages), waits for the
# stream to end and checks that the page's final text equals the API's for the same
# request, that the canvas drew every position and that the revised positions are the
# ones the revision remasked. With SCREENSHOT=FILE it also saves a PNG of the page.
set -u
: "${DIDCL:?set DIDCL to the didcl binary}"
[ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ] || { echo "SKIP: no check_generate (Check missing)"; exit 77; }
PY=$(command -v python3) || { echo "SKIP: python3 missing"; exit 77; }
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome) ||
    { echo "SKIP: no chromium"; exit 77; }
"$DIDCL" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-serve-pg-XXXXXX") || exit 99
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/m" && "$MKGEN" --write-model "$tmp/m" >/dev/null || exit 99
"$DIDCL" serve --model "$tmp/m" --port 0 >"$tmp/log" 2>&1 &
pid=$!
i=0
until grep -q '^didcl serve: port ' "$tmp/log" 2>/dev/null || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
port=$(sed -n 's/^didcl serve: port \([0-9]*\)$/\1/p' "$tmp/log")
[ -n "$port" ] || { echo "the server did not start:"; cat "$tmp/log"; exit 1; }

"$PY" - "$CHROME" "http://127.0.0.1:$port" "$tmp" "${SCREENSHOT:-}" <<'PYEOF' || exit 1
import base64, json, os, subprocess, sys, time, urllib.request
chrome, U, tmp, shot = sys.argv[1:5]
req = {"prompt": "Hello world", "max_tokens": 27, "seed": 1, "revise": "0.25"}
body = json.dumps(dict(req, revise=[req["revise"]])).encode()
api = json.load(urllib.request.urlopen(urllib.request.Request(U + "/v1/completions", data=body), timeout=60))
want = api["choices"][0]["text"]
url = U + "/?run=1&" + "&".join(f"{k}={urllib.parse.quote(str(v))}" for k, v in req.items())

to_r, to_w = os.pipe()      # we write, chrome reads fd 3
from_r, from_w = os.pipe()  # chrome writes fd 4, we read
def child():  # dup first: either pipe end may itself be fd 3 or 4
    a, b = os.dup(to_r), os.dup(from_w)
    os.dup2(a, 3)
    os.dup2(b, 4)
p = subprocess.Popen([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                      "--remote-debugging-pipe", "--user-data-dir=" + tmp + "/profile",
                      "--window-size=1100,900", url],
                     preexec_fn=child, close_fds=False, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
os.close(to_r); os.close(from_w)
buf, n = b"", [0]
def cmd(method, params=None, session=None):
    n[0] += 1
    m = {"id": n[0], "method": method, "params": params or {}}
    if session:
        m["sessionId"] = session
    os.write(to_w, json.dumps(m).encode() + b"\0")
    global buf
    while True:
        while b"\0" not in buf:
            chunk = os.read(from_r, 1 << 20)
            if not chunk:
                raise SystemExit("chromium closed the pipe")
            buf += chunk
        msg, buf = buf.split(b"\0", 1)
        r = json.loads(msg)
        if r.get("id") == n[0]:
            if "error" in r:
                raise SystemExit(f"{method}: {r['error']}")
            return r["result"]
try:
    deadline = time.time() + 90
    target = None
    while not target and time.time() < deadline:
        ts = cmd("Target.getTargets")["targetInfos"]
        target = next((t for t in ts if t["type"] == "page" and t["url"].startswith(U)), None)
        time.sleep(0.2)
    assert target, "no page"
    s = cmd("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
    js = """JSON.stringify({done: document.body.dataset.done || "", status: document.getElementById("status").textContent,
      final: document.getElementById("final").textContent, cells: document.querySelectorAll("#canvas .c").length,
      masks: document.querySelectorAll("#canvas .c.mask").length, prompt: document.querySelectorAll("#canvas .c.prompt").length,
      revised: [...document.querySelectorAll("#canvas .c.revised")].map(c => +c.dataset.pos),
      stats: document.querySelectorAll("#stats tr").length})"""
    st = {}
    while time.time() < deadline:
        r = cmd("Runtime.evaluate", {"expression": js, "returnByValue": True}, s)
        if "value" in r["result"]:  # else the page is still loading
            st = json.loads(r["result"]["value"])
            if st["done"]:
                break
        last = r
        time.sleep(0.3)
    assert st.get("done"), st
    assert st["final"] == want, (st["final"], want)
    assert st["cells"] == 31 and st["masks"] == 0 and st["prompt"] == 4, st
    assert len(st["revised"]) == 7 and all(5 <= q < 32 for q in st["revised"]), st
    assert st["stats"] == 3, st  # header + 2 stages
    if shot:
        png = cmd("Page.captureScreenshot", {"format": "png"}, s)["data"]
        open(shot, "wb").write(base64.b64decode(png))
    print("playground ok:", st["status"])
finally:
    p.kill()
    p.wait()
PYEOF
kill -TERM "$pid"; wait "$pid"; st=$?; pid=
[ "$st" -eq 0 ] || { echo "FAIL: the server exited $st"; exit 1; }
