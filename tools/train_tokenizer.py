#!/usr/bin/env python3
"""Train the project's byte-level BPE tokenizer (GPT-2 style) with HF `tokenizers`.

Vocabulary: VOCAB entries in all; ids 0..VOCAB-3 are BPE tokens (256 byte symbols + merges),
id VOCAB-2 is <|endoftext|> (BOS = EOS) and id VOCAB-1 is [MASK] (the engine's convention).
Input files are the corpus splits: documents separated by a line `<|endoftext|>`; those lines
are dropped for training. Output: one tokenizer.json.

  python3 tools/train_tokenizer.py --vocab 8192 --out models/tokenizer.json \
      shared/data/corpus/train_00[0-4].txt
"""
import argparse
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers, processors

EOT = "<|endoftext|>"
MASK = "[MASK]"


def lines(paths, max_bytes):
    seen = 0
    for p in paths:
        with open(p, encoding="utf-8") as f:
            for line in f:
                if line.strip() == EOT:
                    continue
                seen += len(line)
                if max_bytes and seen > max_bytes:
                    return
                yield line


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--vocab", type=int, default=8192, help="total entries incl. 2 specials")
    ap.add_argument("--max-bytes", type=int, default=0, help="use at most this much text (0: all)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tr = trainers.BpeTrainer(vocab_size=a.vocab - 2, min_frequency=2, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             special_tokens=[])
    tok.train_from_iterator(lines(a.files, a.max_bytes), trainer=tr)
    # Specials appended after training so they land at VOCAB-2 and VOCAB-1.
    tok.add_special_tokens([EOT, MASK])
    n = tok.get_vocab_size()
    if n != a.vocab or tok.token_to_id(EOT) != a.vocab - 2 or tok.token_to_id(MASK) != a.vocab - 1:
        sys.exit("train_tokenizer: got vocab %d, eot %s, mask %s; expected %d, %d, %d" % (
            n, tok.token_to_id(EOT), tok.token_to_id(MASK), a.vocab, a.vocab - 2, a.vocab - 1))
    tok.save(a.out)
    print("tokenizer: %d entries, eos/bos %d, mask %d -> %s" % (n, a.vocab - 2, a.vocab - 1, a.out))


if __name__ == "__main__":
    main()
