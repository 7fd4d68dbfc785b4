# tools: see Makefile.am

# tools/bench-tokenizer FILE: tokenizer throughput (MB/s, tokens/s), with Hugging Face
# tokenizers as a reference when Python has it (docs/tokenizer.md).
noinst_PROGRAMS += tools/bench-tokenizer
tools_bench_tokenizer_SOURCES = tools/bench_tokenizer.c
tools_bench_tokenizer_CPPFLAGS = $(AM_CPPFLAGS) -DBENCH_SRCDIR='"$(abs_top_srcdir)"'
tools_bench_tokenizer_LDADD = libdidcl.la
EXTRA_DIST += tools/bench_tokenizer_ref.py
