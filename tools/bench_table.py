#!/usr/bin/env python3
"""bench_table: one section of docs/performance.md from a `didcl bench --json` and a
`tools/bench_torch.py --json` of the same run (tools/bench-side-by-side.sh calls it).

The section is "### LABEL" under "## End-to-end benchmark"; a section of the same label
is replaced, others are kept, the rest of the file is left alone.

  bench_table.py --didcl d.json --torch t.json --label "H200, 110M random" \\
      --command "..." docs/performance.md
"""
import argparse
import datetime
import json
import os
import re

PART = "## End-to-end benchmark"
KINDS = ["products", "attention", "sampling", "transfers", "other", "host"]


def fmt(v, nd=1):
    return "—" if v is None or v == 0 else f"{v:.{nd}f}"


def section(d, t, label, command):
    torch_vars = [v for v in t["variants"] if "error" not in v]
    skipped = [v for v in t["variants"] if "error" in v]
    tw = {(v["dtype"], v["mode"]): {w["name"]: w for w in v["workloads"]} for v in torch_vars}
    dw = {w["name"]: w for w in d["workloads"]}
    ref = tw.get(("fp32", "eager"), {})
    out = [f"### {label}", ""]
    out.append(f"{datetime.date.today().isoformat()}: didcl on {d['device']} "
               f"(copy bandwidth {d['copy_gb_per_s']:.1f} GB/s), PyTorch {t['torch']} on "
               f"{t.get('device_name', t['device'])} ({t['threads']} CPU threads); model "
               f"`{os.path.basename(d['model'].rstrip('/'))}`, L = {d['length']}, block 4, "
               f"first-hitting, top-p 0.9; {dw[next(iter(dw))]['reps']} rep(s) each.")
    out += ["", "    " + command, ""]
    head = "| workload | didcl tokens/s | didcl ms/NFE | didcl revision ms/NFE |"
    sep = "|---|---|---|---|"
    for (dtype, mode) in tw:
        head += f" torch {dtype} {mode} tokens/s | didcl / torch {dtype} {mode} |"
        sep += "---|---|"
    out += [head, sep]
    for name, w in dw.items():
        row = (f"| {name} ({w['samples']} sample{'s' if w['samples'] > 1 else ''}"
               f"{', γ 0.25' if w['gamma'] else ''}) | {w['tokens_per_s']:.1f} | "
               f"{w['ms_per_nfe']:.3f} | {fmt(w['revision_ms_per_nfe'], 3)} |")
        for key in tw:
            x = tw[key].get(name)
            if x:
                row += f" {x['tokens_per_s']:.1f} | {w['tokens_per_s'] / x['tokens_per_s']:.2f}× |"
            else:
                row += " — | — |"
        out.append(row)
    out += ["", "didcl's time split (device time by kind from OpenCL profiling events, the host's "
            "rest: host-side sampling, launches, waits), weight bandwidth (weights read per "
            f"forward, {d['weight_bytes_per_forward'] / 1e6:.1f} MB, × forwards incl. store-KV / "
            "wall time) against the copy bandwidth, and the compile time kept out of the stages:",
            "", "| workload | " + " | ".join(KINDS) + " | weight GB/s | of copy | compile s |",
            "|---|" + "---|" * (len(KINDS) + 3)]
    for name, w in dw.items():
        s = w["split_seconds"]
        tot = sum(s.values()) or 1.0
        out.append(f"| {name} | " + " | ".join(f"{100 * s[k] / tot:.1f}%" for k in KINDS) +
                   f" | {w['weight_gb_per_s']:.2f} | {100 * w['weight_fraction_of_copy']:.1f}% | "
                   f"{w['compile_seconds']:.2f} |")
    out += ["", "Targets (issue 11):", ""]
    checks = []
    if "W1" in dw:
        v = dw["W1"]["ms_per_nfe"]
        checks.append(f"W1 ≤ 1.0 ms per NFE end to end: {v:.3f} ms — {'met' if v <= 1.0 else 'missed'}")
        if "W1" in ref:
            r = dw["W1"]["tokens_per_s"] / ref["W1"]["tokens_per_s"]
            checks.append(f"W1 tokens/s at least PyTorch's (fp32 eager, same sampler): {r:.2f}× — "
                          f"{'met' if r >= 1.0 else 'missed'}")
    if "W2" in dw:
        v = dw["W2"]["revision_ms_per_nfe"]
        checks.append(f"W2 revision ≤ 3 ms per NFE: {v:.3f} ms — {'met' if v <= 3.0 else 'missed'}")
    if "W3" in dw and "W3" in ref:
        r = dw["W3"]["tokens_per_s"] / ref["W3"]["tokens_per_s"]
        checks.append(f"W3 ≥ 2× PyTorch fp32 tokens/s at batch 16: {r:.2f}× — "
                      f"{'met' if r >= 2.0 else 'missed'}")
    out += [f"- {c}" for c in checks]
    for v in skipped:
        out.append(f"- PyTorch {v['dtype']} {v['mode']} not measured: {v['error']}")
    return "\n".join(out) + "\n"


def splice(text, label, body):
    """Replace (or add) "### label" inside the PART section of text."""
    if PART not in text:
        text = text.rstrip("\n") + f"\n\n{PART}\n\n"
    start = text.index(PART)
    nxt = re.search(r"^## ", text[start + len(PART):], re.M)
    end = start + len(PART) + nxt.start() if nxt else len(text)
    part = text[start:end]
    m = re.search(r"^### " + re.escape(label) + r"\n", part, re.M)
    if m:
        n2 = re.search(r"^##+ ", part[m.end():], re.M)
        stop = m.end() + n2.start() if n2 else len(part)
        part = part[:m.start()] + body + "\n" + part[stop:]
    else:
        part = part.rstrip("\n") + "\n\n" + body + "\n"
    return text[:start] + part + text[end:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--didcl", required=True)
    ap.add_argument("--torch", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--command", default="tools/bench-side-by-side.sh")
    ap.add_argument("doc")
    a = ap.parse_args()
    body = section(json.load(open(a.didcl)), json.load(open(a.torch)), a.label, a.command)
    text = open(a.doc).read() if os.path.exists(a.doc) else "# Performance\n"
    with open(a.doc + ".tmp", "w") as f:
        f.write(splice(text, a.label, body))
    os.replace(a.doc + ".tmp", a.doc)


if __name__ == "__main__":
    main()
