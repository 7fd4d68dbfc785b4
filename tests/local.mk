# Check suites: one program per module (tests/check_<module>.c), run by `make check`.
# Suites needing an OpenCL device exit 77 (SKIP) only where no device exists.
# Keep kernel binaries of test runs inside the build tree, shared by the suites.
AM_TESTS_ENVIRONMENT = DIDCL_CACHE_DIR=$(abs_top_builddir)/tests/kcache; export DIDCL_CACHE_DIR; \
	DIDCL=$(abs_top_builddir)/didcl; export DIDCL; \
	DIDCL_TEST_SRCDIR=$(abs_top_srcdir)/tests; export DIDCL_TEST_SRCDIR;

if HAVE_CHECK
TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -DDIDCL_TEST_SRCDIR='"$(abs_top_srcdir)/tests"'
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(OPENCL_CFLAGS)
TEST_LDADD = tests/libtestutil.la libdidcl.la $(CHECK_LIBS) $(OPENCL_LIBS)

check_LTLIBRARIES += tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h
tests_libtestutil_la_CPPFLAGS = $(TEST_CPPFLAGS)
tests_libtestutil_la_CFLAGS = $(TEST_CFLAGS)


check_PROGRAMS += \
	tests/check_status \
	tests/check_runtime \
	tests/check_program \
	tests/check_remask_header \
	tests/check_philox \
	tests/check_sampling \
	tests/check_sampler

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

tests_check_remask_header_SOURCES = tests/check_remask_header.c
tests_check_remask_header_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_remask_header_CFLAGS = $(TEST_CFLAGS) -Wpedantic -Wconversion
tests_check_remask_header_LDADD = $(TEST_LDADD)

tests_check_philox_SOURCES = tests/check_philox.c
tests_check_philox_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_philox_CFLAGS = $(TEST_CFLAGS)
tests_check_philox_LDADD = $(TEST_LDADD) -lm

tests_check_sampling_SOURCES = tests/check_sampling.c
tests_check_sampling_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_sampling_CFLAGS = $(TEST_CFLAGS)
tests_check_sampling_LDADD = $(TEST_LDADD) -lm

tests_check_sampler_SOURCES = tests/check_sampler.c
tests_check_sampler_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_sampler_CFLAGS = $(TEST_CFLAGS)
tests_check_sampler_LDADD = $(TEST_LDADD) -lm

TESTS += $(check_PROGRAMS)
endif

# Shell tests of the CLI; they run ./didcl from the build tree.
TESTS += tests/cli_devices.sh
EXTRA_DIST += tests/cli_devices.sh

clean-local: clean-local-kcache
clean-local-kcache:
	-rm -rf tests/kcache
