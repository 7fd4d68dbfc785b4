#!/usr/bin/env python3
"""Generate with a DiD revision and plot each position's confidence, the remasked
positions marked: the draft's confidence (what the remask strategy saw) and the final one.

    python3 examples/python/confidence_plot.py --prompt "The old lighthouse keeper" \
        --length 64 --revise 0.25 --out confidence.png

Needs matplotlib for the plot (python3-matplotlib); without it, prints the text and the
remasked positions and skips the plot.
"""
import argparse
import os
import sys

try:
    import didcl
except ImportError:  # run from a source tree without installing the package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import didcl

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--model", help="BD3-LM checkpoint directory (default: the default model)")
ap.add_argument("--prompt", default="The old lighthouse keeper")
ap.add_argument("--length", type=int, default=64)
ap.add_argument("--seed", type=int, default=7)
ap.add_argument("--revise", type=float, default=0.25)
ap.add_argument("--remask", default=None, help="remask strategy (default lowconf)")
ap.add_argument("--out", default="confidence.png", help="image file to write")
args = ap.parse_args()

draft_conf = {}
with didcl.Session(args.model) as s:
    def keep_draft(ev):
        if ev.kind == "stage_done" and ev.stage == 1:
            draft_conf[ev.sample] = ev.confidence

    r = s.generate(args.prompt, length=args.length, seed=args.seed, revise=args.revise,
                   remask=args.remask, on_event=keep_draft)[0]

t = r.trace
gen = ~t.locked
print(r.text)
print(f"[draft {r.stages[0].nfe} NFE; revision remasked {int(t.remasked.sum())} of "
      f"{int(gen.sum())}: positions {list(map(int, t.remasked.nonzero()[0]))}]")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot (apt-get install python3-matplotlib)")
    sys.exit(0)

x = range(len(t))
fig, ax = plt.subplots(figsize=(max(7, len(t) / 8), 4))
ax.plot(x, draft_conf[0], color="0.6", lw=1, marker=".", label="draft confidence")
ax.plot(x, t.confidence, color="C0", lw=1, marker=".", label="final confidence")
rm = t.remasked.nonzero()[0]
ax.scatter(rm, draft_conf[0][rm], color="C3", marker="x", s=40, zorder=3,
           label="remasked (at its draft confidence)")
ax.axvspan(-0.5, r.n_prompt + 0.5, color="0.9", label="BOS + prompt")
ax.set_xlabel("position")
ax.set_ylabel("snapshot confidence")
ax.set_ylim(0, 1.05)
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=8, frameon=False)
ax.set_title(f"seed {args.seed}, revise {args.revise}, remask {r.remask}")
fig.tight_layout()
fig.savefig(args.out, dpi=120)
print(f"wrote {args.out}")
