# libdidcl and the didcl CLI. One module per file; internal headers beside them.
libdidcl_la_SOURCES += \
	src/status.c \
	src/settings.c \
	src/sha256.c \
	src/runtime.c \
	src/program.c \
	src/progcache.c \
	src/safetensors.c \
	src/modelconfig.c \
	src/modelfiles.c \
	src/ops.c \
	src/ops_ref.c \
	src/model.c \
	src/score.c \
	src/tokenizer.c \
	src/remask.c \
	src/philox.c \
	src/sampling.c \
	src/sampler.c \
	src/session.c

noinst_HEADERS += \
	src/error.h \
	src/settings.h \
	src/sha256.h \
	src/runtime.h \
	src/program.h \
	src/progcache.h \
	src/ops.h \
	src/ops_ref.h \
	src/model.h \
	src/remask.h \
	src/philox.h \
	src/sampling.h \
	src/denoiser.h \
	src/sampler.h \
	src/cl-sources.h \
	src/safetensors.h \
	src/modelconfig.h \
	src/tokenizer.h \
	src/cli/cli.h

didcl_SOURCES += \
	src/cli/main.c \
	src/cli/io.c \
	src/cli/parse.c \
	src/cli/json.c \
	src/cli/devices.c \
	src/cli/inspect.c \
	src/cli/score.c \
	src/cli/tokenize.c \
	src/cli/plugins.c \
	src/cli/generate.c \
	src/cli/live.c

# The remask loader falls back to the build's plugins/.libs only while libdidcl runs from
# this build tree (src/remask.c checks its own file with dladdr).
AM_CPPFLAGS += -DDIDCL_BUILD_DIR='"$(abs_top_builddir)"'

# The default model (src/session.c): the source tree's models/default while libdidcl runs
# from this build tree, else the installed copy.
AM_CPPFLAGS += -DDIDCL_SOURCE_DIR='"$(abs_top_srcdir)"' -DDIDCL_MODELS_DIR='"$(pkgdatadir)/models"'
