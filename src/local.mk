# libdidcl and the didcl CLI. One module per file; internal headers beside them.
libdidcl_la_SOURCES += \
	src/status.c \
	src/settings.c \
	src/sha256.c \
	src/runtime.c \
	src/program.c \
	src/progcache.c \
	src/philox.c \
	src/sampling.c \
	src/sampler.c

noinst_HEADERS += \
	src/error.h \
	src/settings.h \
	src/sha256.h \
	src/runtime.h \
	src/program.h \
	src/progcache.h \
	src/philox.h \
	src/sampling.h \
	src/denoiser.h \
	src/sampler.h \
	src/cl-sources.h \
	src/cli/cli.h

didcl_SOURCES += \
	src/cli/main.c \
	src/cli/devices.c
