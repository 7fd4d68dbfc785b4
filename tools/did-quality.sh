#!/bin/bash
# did-quality.sh — a quick DiD quality check (not the full Gen-PPL protocol): generate N
# samples per configuration with the default model, score each text with the GPT-2
# evaluator (models/evaluator, BOS prepended), and print Gen PPL (exp of total NLL over
# total tokens), mean unigram entropy of the ids, and NFE per sample.
# Usage: tools/did-quality.sh [N] [LENGTH]   (run from the build tree; needs python3)
set -eu
cd "$(dirname "$0")/.."
N=${1:-8}; LEN=${2:-128}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
run() { # NAME [generate options...]
    local name=$1; shift
    ./didcl generate --length "$LEN" --samples "$N" --seed 100 --json --quiet "$@" >"$out/$name.jsonl"
    python3 - "$out/$name.jsonl" "$name" <<'PY'
import collections, json, math, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
nll = tok = nfe = 0; ents = []
for r in rows:
    s = json.loads(subprocess.run(["./didcl", "score", "--model", "models/evaluator", "--bos", "--json"],
                                  input=r["text"].encode(), capture_output=True, check=True).stdout)
    nll += s["nll"] * s["tokens"]; tok += s["tokens"]
    c = collections.Counter(r["ids"]); n = len(r["ids"])
    ents.append(-sum(v / n * math.log(v / n) for v in c.values()))
    nfe += sum(st["nfe"] for st in r["stages"])
print("%-16s samples %d  Gen PPL %7.2f  entropy %.3f  NFE/sample %.1f"
      % (sys.argv[2], len(rows), math.exp(nll / tok), sum(ents) / len(ents), nfe / len(rows)))
PY
}
run draft
run revise-0.25 --revise 0.25
run revise-0.5 --revise 0.5
run revise-0.25@16 --revise 0.25@16
