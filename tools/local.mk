# tools: see Makefile.am
# PyTorch tools (training, model definitions, tokenizer, reference sampler).
EXTRA_DIST += tools/didcl_torch.py tools/train.py tools/train_tokenizer.py
