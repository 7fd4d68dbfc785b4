# examples/: small programs against the public API only (include/ and libdidcl; no
# private header is on their include path). Built by `make check`; tests/example_generate.sh
# runs generate against the CLI, tests/plugin_example.sh builds it against an install.
check_PROGRAMS += examples/generate
examples_generate_SOURCES = examples/generate.c
examples_generate_CPPFLAGS = -I$(top_srcdir)/include
examples_generate_LDADD = libdidcl.la
EXTRA_DIST += examples/generate.c

TESTS += tests/example_generate.sh
EXTRA_DIST += tests/example_generate.sh
