# tools/: build helpers and developer tools (Python tools are not installed).
# The sanitizer lane and the fuzz targets (built only by tools/fuzz.sh; docs/security.md).
EXTRA_DIST += tools/copy-tree.sh tools/fuzz.sh docs/security.md tests/fuzz/fuzzutil.h \
	tests/fuzz/fuzzutil.c tests/fuzz/fuzz_safetensors.c tests/fuzz/fuzz_index.c \
	tests/fuzz/fuzz_config.c tests/fuzz/fuzz_tokenizer_load.c tests/fuzz/fuzz_tokenizer_codec.c \
	tests/fuzz/fuzz_remask_spec.c tests/fuzz/fuzz_cli_options.c
EXTRA_DIST += tools/sanitize.sh tools/lsan.supp tools/install-deps.sh tools/setup.sh tools/did-quality.sh tools/ref_sample.py docs/quality.md \
	tools/eval-sweep tools/eval-sweep-device.sh tools/train-remask docs/results.md docs/results-ppl-nfe.png \
	docs/results-ppl-entropy.png
# Benchmarks, built on demand only (`make tools/bench-ops`): they print figures. Tools
# link libdidcl-internal.la, which keeps the internal symbols libdidcl.so hides.
EXTRA_PROGRAMS = tools/bench-ops tools/bench-model tools/bench-remask
tools_bench_ops_SOURCES = tools/bench-ops.c
tools_bench_ops_CFLAGS = $(AM_CFLAGS) $(OPENCL_CFLAGS)
tools_bench_ops_LDADD = libdidcl-internal.la $(OPENCL_LIBS)
# tools/bench-model --model DIR: ms per forward (cached block step, global) next to
# tools/reference.py bench in the same run (docs/benchmarks.md).
tools_bench_model_SOURCES = tools/bench-model.c
tools_bench_model_CFLAGS = $(AM_CFLAGS) $(OPENCL_CFLAGS)
tools_bench_model_CPPFLAGS = $(AM_CPPFLAGS) -DBENCH_SRCDIR='"$(abs_top_srcdir)"'
tools_bench_model_LDADD = libdidcl-internal.la $(OPENCL_LIBS)
# tools/bench-remask [SPEC...]: microseconds per token of a remask selection (docs/plugins.md).
tools_bench_remask_SOURCES = tools/bench-remask.c
tools_bench_remask_LDADD = libdidcl-internal.la
# The GPU machine run of the forward pass (docs/portability.md).
EXTRA_DIST += tools/device-prep.sh tools/device-env.sh tools/device-run.sh docs/model.md docs/benchmarks.md \
	docs/portability.md
CLEANFILES += $(EXTRA_PROGRAMS)
# PyTorch tools (training, model definitions, tokenizer, reference sampler).
EXTRA_DIST += tools/didcl_torch.py tools/train.py tools/train_tokenizer.py tools/reference.py
# tools/bench-tokenizer FILE: tokenizer throughput (MB/s, tokens/s), with Hugging Face
# tokenizers as a reference when Python has it (docs/tokenizer.md).
noinst_PROGRAMS += tools/bench-tokenizer
tools_bench_tokenizer_SOURCES = tools/bench_tokenizer.c
tools_bench_tokenizer_CPPFLAGS = $(AM_CPPFLAGS) -DBENCH_SRCDIR='"$(abs_top_srcdir)"'
tools_bench_tokenizer_LDADD = libdidcl-internal.la
EXTRA_DIST += tools/bench_tokenizer_ref.py
# tools/serve-bench.py: load benchmark of a running didcl serve (docs/serve.md).
EXTRA_DIST += tools/serve-bench.py
