#!/usr/bin/env python3
"""A remask strategy in ten lines of Python: remask where the model hesitated between
its two best tokens (smallest top-1 minus top-2 margin), compared with lowconf.

    python3 examples/python/custom_strategy.py [MODEL_DIR] [PROMPT]
"""
import os
import sys

import numpy as np

try:
    import didcl
except ImportError:  # run from a source tree without installing the package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import didcl


@didcl.register_remask("lowmargin")
def lowmargin(pos, count, stage, block_size):
    """smallest top-1 minus top-2 margin first"""
    key = np.where(pos.locked, np.inf, pos.margin)  # never the prompt
    return np.argsort(key, kind="stable")[:count]


model = sys.argv[1] if len(sys.argv) > 1 else None
prompt = sys.argv[2] if len(sys.argv) > 2 else "The old lighthouse keeper"
with didcl.Session(model) as s:
    for name in ("lowconf", "lowmargin"):
        r = s.generate(prompt, length=64, seed=7, revise=0.25, remask=name)[0]
        print(f"--- {name}: remasked {list(map(int, r.trace.remasked.nonzero()[0]))}")
        print(r.text)
