# tools/: build helpers and developer tools (Python tools are not installed).
EXTRA_DIST += tools/install-deps.sh tools/setup.sh
# Benchmarks, built on demand only (`make tools/bench-ops`): they print figures.
EXTRA_PROGRAMS = tools/bench-ops
tools_bench_ops_SOURCES = tools/bench-ops.c
tools_bench_ops_CFLAGS = $(AM_CFLAGS) $(OPENCL_CFLAGS)
tools_bench_ops_LDADD = libdidcl.la $(OPENCL_LIBS)
CLEANFILES += $(EXTRA_PROGRAMS)
# PyTorch tools (training, model definitions, tokenizer, reference sampler).
EXTRA_DIST += tools/didcl_torch.py tools/train.py tools/train_tokenizer.py tools/reference.py
