# plugins/: the bundled remask-selection plugins. Each is one .c file built only against
# include/didcl/remask.h (no libdidcl symbols) into a loadable module
# $(pluginsdir)/didcl-remask-NAME.so; the loader finds them by NAME (see include/didcl.h).
# The same sources are compiled a second time into libdidcl as its built-in plugins (below),
# so a name resolves even where no .so is installed; a .so on the search path wins.
PLUGIN_LDFLAGS = -module -avoid-version -shared -no-undefined
PLUGIN_CPPFLAGS = -I$(top_srcdir)/include
PLUGIN_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden

plugins_LTLIBRARIES += \
	plugins/didcl-remask-lowconf.la \
	plugins/didcl-remask-entropy.la \
	plugins/didcl-remask-span.la \
	plugins/didcl-remask-random.la \
	plugins/didcl-remask-learned.la

plugins_didcl_remask_lowconf_la_SOURCES = plugins/lowconf.c plugins/plugin-util.h
plugins_didcl_remask_lowconf_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_didcl_remask_lowconf_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_didcl_remask_lowconf_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugins_didcl_remask_entropy_la_SOURCES = plugins/entropy.c plugins/plugin-util.h
plugins_didcl_remask_entropy_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_didcl_remask_entropy_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_didcl_remask_entropy_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugins_didcl_remask_span_la_SOURCES = plugins/span.c plugins/plugin-util.h
plugins_didcl_remask_span_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_didcl_remask_span_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_didcl_remask_span_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugins_didcl_remask_random_la_SOURCES = plugins/random.c plugins/plugin-util.h
plugins_didcl_remask_random_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_didcl_remask_random_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_didcl_remask_random_la_LDFLAGS = $(PLUGIN_LDFLAGS)

# learned carries its bundled weights as bytes (tools/embed-bin.sh), so neither the .so nor
# the built-in needs a path to find them; the file itself is installed beside the plugins.
LEARNED_CPPFLAGS = $(PLUGIN_CPPFLAGS) -I$(top_builddir)/plugins
plugins_didcl_remask_learned_la_SOURCES = plugins/learned.c plugins/plugin-util.h
nodist_plugins_didcl_remask_learned_la_SOURCES = plugins/learned-weights.h
plugins_didcl_remask_learned_la_CPPFLAGS = $(LEARNED_CPPFLAGS)
plugins_didcl_remask_learned_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_didcl_remask_learned_la_LDFLAGS = $(PLUGIN_LDFLAGS) -lm

dist_plugins_DATA = plugins/learned.safetensors
BUILT_SOURCES += plugins/learned-weights.h
# BUILT_SOURCES covers `make`, `make check`; a single target (tools/fuzz.sh builds
# libdidcl-internal.la alone) needs the header named as the objects' prerequisite
plugins/libbuiltin_learned_la-learned.lo plugins/didcl_remask_learned_la-learned.lo: \
	plugins/learned-weights.h
CLEANFILES += plugins/learned-weights.h
EXTRA_DIST += tools/embed-bin.sh
plugins/learned-weights.h: $(top_srcdir)/plugins/learned.safetensors $(top_srcdir)/tools/embed-bin.sh
	$(AM_V_GEN)$(MKDIR_P) plugins && \
	$(SHELL) $(top_srcdir)/tools/embed-bin.sh learned_weights \
	  $(top_srcdir)/plugins/learned.safetensors > $@.tmp && mv $@.tmp $@

# Built-ins: each plugin once more, into convenience libraries inside libdidcl-internal.
# DIDCL_PLUGIN_BUILTIN renames its entry (plugin-util.h) to the hidden symbol src/remask.h
# declares, so one source serves both builds.
noinst_LTLIBRARIES += \
	plugins/libbuiltin-lowconf.la \
	plugins/libbuiltin-entropy.la \
	plugins/libbuiltin-span.la \
	plugins/libbuiltin-random.la \
	plugins/libbuiltin-learned.la
libdidcl_internal_la_LIBADD += \
	plugins/libbuiltin-lowconf.la \
	plugins/libbuiltin-entropy.la \
	plugins/libbuiltin-span.la \
	plugins/libbuiltin-random.la \
	plugins/libbuiltin-learned.la

plugins_libbuiltin_lowconf_la_SOURCES = plugins/lowconf.c plugins/plugin-util.h
plugins_libbuiltin_lowconf_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) \
	-DDIDCL_PLUGIN_BUILTIN=didcl_remask_builtin_lowconf
plugins_libbuiltin_lowconf_la_CFLAGS = $(PLUGIN_CFLAGS)

plugins_libbuiltin_entropy_la_SOURCES = plugins/entropy.c plugins/plugin-util.h
plugins_libbuiltin_entropy_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) \
	-DDIDCL_PLUGIN_BUILTIN=didcl_remask_builtin_entropy
plugins_libbuiltin_entropy_la_CFLAGS = $(PLUGIN_CFLAGS)

plugins_libbuiltin_span_la_SOURCES = plugins/span.c plugins/plugin-util.h
plugins_libbuiltin_span_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) \
	-DDIDCL_PLUGIN_BUILTIN=didcl_remask_builtin_span
plugins_libbuiltin_span_la_CFLAGS = $(PLUGIN_CFLAGS)

plugins_libbuiltin_random_la_SOURCES = plugins/random.c plugins/plugin-util.h
plugins_libbuiltin_random_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) \
	-DDIDCL_PLUGIN_BUILTIN=didcl_remask_builtin_random
plugins_libbuiltin_random_la_CFLAGS = $(PLUGIN_CFLAGS)

plugins_libbuiltin_learned_la_SOURCES = plugins/learned.c plugins/plugin-util.h
nodist_plugins_libbuiltin_learned_la_SOURCES = plugins/learned-weights.h
plugins_libbuiltin_learned_la_CPPFLAGS = $(LEARNED_CPPFLAGS) \
	-DDIDCL_PLUGIN_BUILTIN=didcl_remask_builtin_learned
plugins_libbuiltin_learned_la_CFLAGS = $(PLUGIN_CFLAGS)
