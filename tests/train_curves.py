"""Compare the training curves (and optionally the exported weights) of tools/train.py runs,
for tests/train_ddp.sh and tests/train_resume.sh.

  train_curves.py [--tol REL] [--steps N] [--weights [--wtol REL]] REF RUN [RUN ...]

Each run is an --out directory: the loss and grad-norm of every step in its log.jsonl (the
last entry of a step wins, so a resumed run's directory holds its whole curve) must equal
REF's within the relative tolerance REL (0 = bit-identical), on steps 1..N (default: all of
REF's). --weights also compares export/model.safetensors tensor by tensor (|diff| <=
wtol * max |ref|; Adam turns float-order noise in tiny gradients into larger weight noise). Prints the largest differences seen; exits 1 on a mismatch."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))


def curve(d):
    c = {}
    with open(os.path.join(d, "log.jsonl")) as f:
        for line in f:
            j = json.loads(line)
            if "loss" in j:
                c[j["step"]] = (j["loss"], j["gnorm"])
    return c


def rel(x, y):
    return abs(x - y) / max(abs(x), abs(y), 1e-30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tol", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--weights", action="store_true")
    ap.add_argument("--wtol", type=float, default=None, help="weights tolerance (default --tol)")
    ap.add_argument("ref")
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    ref = curve(a.ref)
    steps = list(range(1, a.steps + 1)) if a.steps else sorted(ref)
    ok = True
    for d in a.runs:
        c = curve(d)
        missing = [s for s in steps if s not in c or s not in ref]
        if missing:
            print("FAIL: %s: no loss logged at steps %s" % (d, missing[:10]))
            ok = False
            continue
        dl = max(rel(ref[s][0], c[s][0]) for s in steps)
        dg = max(rel(ref[s][1], c[s][1]) for s in steps)
        msg = "%s: steps 1..%d, max rel diff loss %.3g, grad norm %.3g" % (
            os.path.basename(d), steps[-1], dl, dg)
        bad = dl > a.tol or dg > a.tol
        if a.weights:
            import didcl_torch as dt
            w0 = dt.read_safetensors(os.path.join(a.ref, "export", "model.safetensors"))
            w1 = dt.read_safetensors(os.path.join(d, "export", "model.safetensors"))
            dw = max(float((w0[k] - w1[k]).abs().max()) / max(float(w0[k].abs().max()), 1e-30)
                     for k in w0)
            msg += ", exported weights %.3g" % dw
            wtol = a.tol if a.wtol is None else a.wtol
            msg += " (tolerance %.3g)" % wtol
            bad = bad or dw > wtol or set(w0) != set(w1)
        print(("FAIL: " if bad else "ok: ") + msg + "; curve tolerance %.3g" % a.tol)
        ok = ok and not bad
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
