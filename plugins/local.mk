# plugins/: the bundled remask-selection plugins. Each is one .c file built only against
# include/didcl/remask.h (no libdidcl symbols) into a loadable module
# $(pluginsdir)/didcl-remask-NAME.so; the loader finds them by NAME (see include/didcl.h).
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
