#!/bin/sh
# Fine-tuning from a Hugging Face style BD3-LM / MDLM directory (tools/train.py --init DIR):
# a tiny trained export is rewritten as a hub checkpoint (hub config keys, sharded with an
# index, RoPE inv_freq, other eps scalars) and as an MDLM one (model_type mdlm, no eps
# scalars); --init with 0 steps exports exactly the given weights under the given
# architecture (not the command line's), and 3 steps of the "did" block mixture run on it
# under torchrun (2 CPU ranks). Also the tokenizer rule: a tokenizer.json without [MASK]
# (GPT-2's) gets the mask as one more id. Skips (77) without torch (with gloo).
. "${srcdir:-.}/tests/train_torchrun.sh"
set -e
run base train $tiny --batch 4 --steps 3 --out "$tmp/base"
"$PY" - "$src/tools" "$tmp" <<'PYEOF'
import json, os, sys
sys.path.insert(0, sys.argv[1])
import torch
import didcl_torch as dt
import train
tmp = sys.argv[2]
cfg, sd = dt.read_pretrained(tmp + "/base/export")
hub = {"architectures": ["BD3LM"], "model_type": "bd3lm", "auto_map": dt.BD3LM_DEFAULTS["auto_map"],
       "attn_backend": "sdpa", "block_size": 16, "cond_dim": 16, "cross_attn": True, "dropout": 0.1,
       "hidden_dim": 32, "model_length": 64, "n_blocks": 2, "n_heads": 2, "return_dict": False,
       "sampling_eps_max": 0.8, "sampling_eps_min": 0.3, "time_conditioning": False,
       "torch_dtype": "float32", "transformers_version": "4.49.0", "var_min": True, "vocab_size": 258}
sd = dict(sd)
sd["backbone.rotary_emb.inv_freq"] = 1.0 / (10000 ** (torch.arange(0, 16, 2).float() / 16))
sd["sampling_eps_min"], sd["sampling_eps_max"] = torch.tensor(0.3), torch.tensor(0.8)
names = sorted(sd)
for d, c, keys in (("hub", hub, names),
                   ("mdlm", dict(hub, model_type="mdlm", architectures=["MDLM"]),
                    [k for k in names if not k.startswith("sampling_eps")])):
    os.makedirs(os.path.join(tmp, d))
    json.dump(c, open(os.path.join(tmp, d, "config.json"), "w"))
    half = len(keys) // 2
    wmap = {}
    for i, part in enumerate((keys[:half], keys[half:])):
        fn = "model-%05d-of-00002.safetensors" % (i + 1)
        dt.write_safetensors(os.path.join(tmp, d, fn), {k: sd[k] for k in part})
        wmap.update({k: fn for k in part})
    json.dump({"metadata": {}, "weight_map": wmap},
              open(os.path.join(tmp, d, "model.safetensors.index.json"), "w"))
# tokenizer rule: GPT-2's tokenizer.json has EOS 50256 as its last id and no [MASK]
tj = os.path.join(tmp, "gpt2tok.json")
json.dump({"model": {"vocab": {"a": 0, "b": 1, "<|endoftext|>": 2}},
           "added_tokens": [{"id": 2, "content": "<|endoftext|>"}]}, open(tj, "w"))
assert train.tok_specials(tj) == (3, 2, None), train.tok_specials(tj)
assert train.tok_specials("bytes") == (258, 256, 257)
print("tokenizer rule: ok")
PYEOF
# --layers/--hidden/--model-length of the command line are overridden by the directory's
run init0 train --device cpu --tokenizer bytes --train "$txt" --cache-dir "$tmp/cache" --layers 4 --hidden 64 \
    --heads 4 --cond-dim 32 --steps 0 --eps-min 0.001 --eps-max 1 --init "$tmp/hub" --out "$tmp/init0"
grep -q "init from .*hub (model_type bd3lm, .* not loaded: .*inv_freq, sampling_eps_max, sampling_eps_min)" \
    "$tmp/init0/log.txt" || { echo "FAIL: init log"; cat "$tmp/init0/log.txt"; exit 1; }
"$PY" - "$src/tools" "$tmp" <<'PYEOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import didcl_torch as dt
tmp = sys.argv[2]
_, want = dt.read_pretrained(tmp + "/base/export")
cfg, got = dt.read_pretrained(tmp + "/init0/export")
assert set(got) == set(want), (set(got) ^ set(want))
worst = max(float((got[k] - want[k]).abs().max()) for k in want if not k.startswith("sampling_eps"))
arch = {k: cfg[k] for k in ("n_blocks", "hidden_dim", "n_heads", "cond_dim", "model_length", "vocab_size")}
print("init, 0 steps: max |weight diff| %g, eps [%g, %g], %s" % (
    worst, float(got["sampling_eps_min"]), float(got["sampling_eps_max"]), arch))
assert worst == 0.0
assert arch == {"n_blocks": 2, "hidden_dim": 32, "n_heads": 2, "cond_dim": 16, "model_length": 64, "vocab_size": 258}
assert abs(float(got["sampling_eps_min"]) - 0.001) < 1e-7 and float(got["sampling_eps_max"]) == 1.0
PYEOF
run init_mdlm trun 2 --device cpu --tokenizer bytes --train "$txt" --valid "$txt" --cache-dir "$tmp/cache" \
    --batch 4 --steps 3 --warmup 1 --log-every 1 --eval-batches 1 --final-eval-batches 1 \
    --block-mix did --init "$tmp/mdlm" --out "$tmp/init_mdlm"
grep -q "init from .*mdlm (model_type mdlm" "$tmp/init_mdlm/log.txt" \
    && grep -q "training done: 3 steps" "$tmp/init_mdlm/log.txt" \
    && grep -q '"didcl_block_mix": "4:0.7,L:0.3"' "$tmp/init_mdlm/export/config.json" \
    || { echo "FAIL: fine-tuning from the MDLM directory"; cat "$tmp/init_mdlm/log.txt"; exit 1; }
grep "final eval" "$tmp/init_mdlm/log.txt"
echo "train init: ok"
