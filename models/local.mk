# The project's tokenizer and default model are data, installed under
# $(pkgdatadir)/models; `didcl generate` without --model loads models/default from there
# (from the source tree while it runs from a build tree, see src/cli/generate.c).
# models/default is optional: a tree without it builds, installs and distributes the rest.
modelsdir = $(pkgdatadir)/models
dist_models_DATA = models/tokenizer.json

install-data-local: install-default-model
uninstall-local: uninstall-default-model
dist-hook: dist-default-model

install-default-model:
	@if test -f '$(srcdir)/models/default/config.json'; then \
	  echo " INSTALL  models/default -> $(DESTDIR)$(modelsdir)/default"; \
	  $(MKDIR_P) '$(DESTDIR)$(modelsdir)/default' || exit 1; \
	  for f in '$(srcdir)'/models/default/*; do \
	    if test -f "$$f"; then $(INSTALL_DATA) "$$f" '$(DESTDIR)$(modelsdir)/default/' || exit 1; fi; \
	  done; \
	fi

uninstall-default-model:
	-rm -rf '$(DESTDIR)$(modelsdir)/default'

dist-default-model:
	@if test -d '$(srcdir)/models/default'; then \
	  $(MKDIR_P) '$(distdir)/models/default' && \
	  for f in '$(srcdir)'/models/default/*; do \
	    if test -f "$$f"; then cp -p "$$f" '$(distdir)/models/default/' || exit 1; fi; \
	  done; \
	fi

.PHONY: install-default-model uninstall-default-model dist-default-model
