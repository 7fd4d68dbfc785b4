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
	plugins/didcl-remask-random.la

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

# Built-ins: each plugin once more, into convenience libraries inside libdidcl-internal.
# DIDCL_PLUGIN_BUILTIN renames its entry (plugin-util.h) to the hidden symbol src/remask.h
# declares, so one source serves both builds.
noinst_LTLIBRARIES += \
	plugins/libbuiltin-lowconf.la \
	plugins/libbuiltin-entropy.la \
	plugins/libbuiltin-span.la \
	plugins/libbuiltin-random.la
libdidcl_internal_la_LIBADD += \
	plugins/libbuiltin-lowconf.la \
	plugins/libbuiltin-entropy.la \
	plugins/libbuiltin-span.la \
	plugins/libbuiltin-random.la

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
