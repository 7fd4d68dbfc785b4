"""Reference side of tools/bench-tokenizer: encode a text file with Hugging Face
`tokenizers` and print "<seconds> <tokens>"; the ids go to OUT as int32 (native order).

    python3 tools/bench_tokenizer_ref.py TOKENIZER TEXT OUT

TOKENIZER is a tokenizer.json or a directory holding tokenizer.json, vocab.json +
merges.txt, or encoder.json + vocab.bpe (GPT-2 settings: no prefix space, <|endoftext|>
special), the same rules as didcl_tokenizer_load.
"""
import array
import os
import sys
import time

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers


def load(path):
    if os.path.isfile(path):
        return Tokenizer.from_file(path)
    if os.path.isfile(os.path.join(path, "tokenizer.json")):
        return Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
    for vocab, merges in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
        v, m = os.path.join(path, vocab), os.path.join(path, merges)
        if os.path.isfile(v) and os.path.isfile(m):
            tok = Tokenizer(models.BPE.from_file(v, m))
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
            return tok
    sys.exit(f"{path}: no tokenizer found")


def main():
    tok_path, text_path, out_path = sys.argv[1:4]
    tok = load(tok_path)
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    t0 = time.perf_counter()
    ids = tok.encode(text).ids
    secs = time.perf_counter() - t0
    with open(out_path, "wb") as f:
        array.array("i", ids).tofile(f)
    print(f"{secs:.6f} {len(ids)}")


if __name__ == "__main__":
    main()
