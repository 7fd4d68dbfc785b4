# Check suites: one program per module (tests/check_<module>.c), run by `make check`.
# Suites needing an OpenCL device exit 77 (SKIP) only where no device exists.
# Keep kernel binaries of test runs inside the build tree, shared by the suites.
AM_TESTS_ENVIRONMENT = DIDCL_CACHE_DIR=$(abs_top_builddir)/tests/kcache; export DIDCL_CACHE_DIR; \
	DIDCL=$(abs_top_builddir)/didcl; export DIDCL; \
	DIDCL_TEST_SRCDIR=$(abs_top_srcdir)/tests; export DIDCL_TEST_SRCDIR;

if HAVE_CHECK
AM_CPPFLAGS += -I$(top_srcdir)/tests -DDIDCL_TEST_SRCDIR='"$(abs_top_srcdir)/tests"'
AM_CFLAGS += $(CHECK_CFLAGS) $(OPENCL_CFLAGS)
LDADD = tests/libtestutil.la libdidcl.la $(CHECK_LIBS) $(OPENCL_LIBS) $(JANSSON_LIBS)

check_LTLIBRARIES += tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h


# Each suite tests/check_<module> is built from tests/check_<module>.c with the
# flags above (automake's default source and LDADD): list new suites here, nothing else.
check_PROGRAMS += \
	tests/check_status \
	tests/check_runtime \
	tests/check_program \
	tests/check_remask_header \
	tests/check_safetensors \
	tests/check_modelfiles \
	tests/check_ops \
	tests/check_model

tests_check_remask_header_CFLAGS = $(AM_CFLAGS) -Wpedantic -Wconversion

tests_check_ops_CPPFLAGS = $(AM_CPPFLAGS) -DDIDCL_PYTHON_TORCH='"$(PYTHON_TORCH)"'
EXTRA_DIST += tests/ops_parity.py
tests_check_model_CPPFLAGS = $(AM_CPPFLAGS) -DDIDCL_PYTHON_TORCH='"$(PYTHON_TORCH)"' \
	-DDIDCL_REFERENCE_PY='"$(abs_top_srcdir)/tools/reference.py"'

TESTS += $(check_PROGRAMS)

# didcl inspect end to end; tests/check_modelfiles --write-model builds its model dirs.
TESTS += tests/inspect.sh
EXTRA_DIST += tests/inspect.sh
AM_TESTS_ENVIRONMENT += MKMODEL=$(abs_top_builddir)/tests/check_modelfiles; export MKMODEL;
endif

# didcl score end to end against tools/reference.py (skips without PYTHON_TORCH).
TESTS += tests/score.sh
EXTRA_DIST += tests/score.sh
AM_TESTS_ENVIRONMENT += PYTHON_TORCH='$(PYTHON_TORCH)'; export PYTHON_TORCH;

# Shell tests of the CLI; they run ./didcl from the build tree.
TESTS += tests/cli_devices.sh
EXTRA_DIST += tests/cli_devices.sh

clean-local: clean-local-kcache
clean-local-kcache:
	-rm -rf tests/kcache

# PyTorch training tool smoke test (CPU; skips without torch on /usr/bin/python3).
TESTS += tests/train_smoke.sh
EXTRA_DIST += tests/train_smoke.sh tests/train_equiv.py tests/data/smoke.txt
