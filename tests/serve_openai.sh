#!/bin/sh
# serve_openai.sh — the official `openai` Python client against `didcl serve` (optional:
# skips with 77 when the package is not installed; CI does not install it from PyPI).
# Non-streamed and streamed completions with a DiD revision (extra_body) give the same
# text as `didcl generate` for the same seed and length; errors raise the client's
# exceptions with the server's message.
set -u
: "${DIDCL:?set DIDCL to the didcl binary}"
[ -n "${MKGEN:-}" ] && [ -x "$MKGEN" ] || { echo "SKIP: no check_generate (Check missing)"; exit 77; }
PY=$(command -v python3) || { echo "SKIP: python3 missing"; exit 77; }
"$PY" -c 'import openai' 2>/dev/null || { echo "SKIP: the openai Python package is not installed"; exit 77; }
"$DIDCL" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-serve-openai-XXXXXX") || exit 99
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/m" && "$MKGEN" --write-model "$tmp/m" >/dev/null || exit 99
"$DIDCL" serve --model "$tmp/m" --port 0 --api-key k1 >"$tmp/log" 2>&1 &
pid=$!
i=0
until grep -q '^didcl serve: port ' "$tmp/log" 2>/dev/null || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
port=$(sed -n 's/^didcl serve: port \([0-9]*\)$/\1/p' "$tmp/log")
[ -n "$port" ] || { echo "the server did not start:"; cat "$tmp/log"; exit 1; }
"$DIDCL" generate --model "$tmp/m" --prompt "Hello world" --seed 1 --length 32 --revise 0.25 --json \
    --quiet >"$tmp/gen.json" || exit 1

"$PY" - "http://127.0.0.1:$port/v1" "$tmp/gen.json" <<'PYEOF' || exit 1
import json, sys, openai
base, gen = sys.argv[1], json.load(open(sys.argv[2]))
c = openai.OpenAI(base_url=base, api_key="k1", max_retries=0, timeout=60)
assert [m.id for m in c.models.list()] == ["m"]
kw = dict(model="m", prompt="Hello world", max_tokens=27, seed=1, extra_body={"revise": 0.25})
r = c.completions.create(**kw)
assert "Hello world" + r.choices[0].text == gen["text"], (r.choices[0].text, gen["text"])
assert r.usage.prompt_tokens == 4 and r.usage.completion_tokens == 27, r.usage
assert r.choices[0].finish_reason == "length"
text, fin = "", None
for ch in c.completions.create(stream=True, **kw):
    for x in ch.choices:
        text += x.text
        fin = x.finish_reason or fin
assert text == r.choices[0].text and fin == "length", (text, fin)
# streamed with usage (stream_options)
last = None
for ch in c.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
    last = ch
assert last.usage.completion_tokens == 27, last
# errors: the client's exceptions, the server's message and field
try:
    c.completions.create(model="m", prompt="Hello", max_tokens=-1)
    raise SystemExit("max_tokens -1 accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "max_tokens", e.body
try:
    c.completions.create(model="nope", prompt="Hello")
    raise SystemExit("unknown model accepted")
except openai.NotFoundError as e:
    assert e.body["code"] == "model_not_found", e.body
try:
    openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).completions.create(model="m", prompt="x")
    raise SystemExit("wrong key accepted")
except openai.AuthenticationError:
    pass
print("openai", openai.__version__, "ok")
PYEOF
kill -TERM "$pid"
wait "$pid"
st=$?
pid=
[ "$st" -eq 0 ] || { echo "FAIL: the server exited $st"; exit 1; }
