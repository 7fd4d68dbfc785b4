# The project's tokenizer and models are data, installed under $(pkgdatadir)/models:
# every folder models/NAME holding a config.json (default/, the model `didcl generate`
# loads without --model, see src/cli/generate.c; evaluator/, ...) is installed and
# distributed with its files. A tree without them builds, installs and ships the rest.
modelsdir = $(pkgdatadir)/models
dist_models_DATA = models/tokenizer.json
EXTRA_DIST += models/README.md

install-data-local: install-model-dirs
uninstall-local: uninstall-model-dirs
dist-hook: dist-model-dirs

# Shell loop header over models/NAME/config.json in the source tree: sets d (the folder)
# and name; the recipe closes it with "done".
MODEL_DIRS_LOOP = for cfg in '$(srcdir)'/models/*/config.json; do \
	  test -f "$$cfg" || continue; d=$$(dirname "$$cfg"); name=$$(basename "$$d");

install-model-dirs:
	@$(MODEL_DIRS_LOOP) \
	  echo " INSTALL  models/$$name -> $(DESTDIR)$(modelsdir)/$$name"; \
	  $(MKDIR_P) "$(DESTDIR)$(modelsdir)/$$name" || exit 1; \
	  for f in "$$d"/*; do \
	    if test -f "$$f"; then $(INSTALL_DATA) "$$f" "$(DESTDIR)$(modelsdir)/$$name/" || exit 1; fi; \
	  done; \
	done

uninstall-model-dirs:
	@$(MODEL_DIRS_LOOP) \
	  rm -rf "$(DESTDIR)$(modelsdir)/$$name"; \
	done

dist-model-dirs:
	@$(MODEL_DIRS_LOOP) \
	  $(MKDIR_P) "$(distdir)/models/$$name" || exit 1; \
	  for f in "$$d"/*; do \
	    if test -f "$$f"; then cp -p "$$f" "$(distdir)/models/$$name/" || exit 1; fi; \
	  done; \
	done

.PHONY: install-model-dirs uninstall-model-dirs dist-model-dirs
